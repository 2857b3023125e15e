"""Resumable, timed stages for pipeline drivers: each stage runs one tool as a subprocess.

A finished stage leaves ``<work_dir>/stages/<key>.json`` (its command, wall and CPU time), so a
rerun skips it; a finished stage whose command has changed is refused rather than silently
reused. Runner-based tools (train/test) log to ``<work_dir>/logs/<key>.log`` while a progress
bar follows mmengine's ``Iter(...) [i/N]`` lines. Imports neither mmseg nor mmcv.
"""
import json
import os
import os.path as osp
import re
import resource
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from tqdm import tqdm

from ..core.io import atomic_write
from ..errors import SamWsssError
from .cli import FLAG_NAMES_ENV

ITER_LINE = re.compile(r'Iter\((train|val|test)\)\s*\[\s*(\d+)/(\d+)\]')
LOSS_VALUE = re.compile(r'\bloss: ([0-9.]+)')
# Log lines shown even without verbose: errors, the tools' warnings, and the per-class table of a
# test run.
SHOWN_LINE = re.compile(r'Error|Traceback|^error:|^warning:|^\s*[+|]|per class results')


@dataclass
class Stage:
    """One step of the pipeline: a tool command, or a small bookkeeping action of the driver.

    Args:
        key (str): Short name; ``WORK_DIR/stages/<key>.json`` marks it finished.
        title (str): What the stage does, as printed.
        command (list[str], optional): The tool and its arguments (run with this Python).
        outputs (Sequence[str]): Files or directories the stage must leave behind.
        mmengine (bool): A Runner-based tool (train/test): its output goes to a log file and a
            progress bar follows its ``Iter(...)`` lines.
        action (callable, optional): Driver bookkeeping (id lists, the results table), run
            instead of a command; ``describe`` says what it does.
        describe (str): The action's description (stands in for the command).
        flag_names (dict): How the tool's messages should name its flags under the pipeline,
            e.g. ``{'--model-type': '--sam-model-type/SAM_MODEL_TYPE'}`` (passed to the tool in
            ``utils.cli.FLAG_NAMES_ENV``; ``run_tool`` rewrites its error line).
    """
    key: str
    title: str
    command: Optional[List[str]] = None
    outputs: Sequence[str] = ()
    mmengine: bool = False
    action: Optional[Callable[[], None]] = None
    describe: str = ''
    flag_names: Dict[str, str] = field(default_factory=dict)

    def signature(self) -> List[str]:
        return list(self.command) if self.command else [self.describe]


@dataclass
class StageResult:
    title: str
    seconds: float
    skipped: bool
    cpu_seconds: float = 0.0


@dataclass
class StageRunner:
    """Runs stages in order, skipping finished ones, and times them.

    Commands run in ``cwd``; ``work_dir`` and the stages' outputs are relative to it too.
    """
    work_dir: str
    cwd: str = '.'
    verbose: bool = False
    results: List[StageResult] = field(default_factory=list)

    def marker(self, stage: Stage) -> str:
        return osp.join(self.cwd, self.work_dir, 'stages', f'{stage.key}.json')

    def exists(self, output: str) -> bool:
        return osp.exists(osp.join(self.cwd, output))

    def is_done(self, stage: Stage) -> bool:
        """True when the stage finished before with the same command and its outputs exist."""
        path = self.marker(stage)
        if not osp.isfile(path):
            return False
        with open(path, encoding='utf-8') as handle:
            recorded = json.load(handle)
        if recorded.get('command') != stage.signature():
            raise SamWsssError(
                f'{path}: stage "{stage.title}" finished earlier with another command\n'
                f'  then: {shell_join(recorded.get("command", []))}\n'
                f'  now:  {shell_join(stage.signature())}\n'
                f'use another --work-dir, or delete {path} and the stage\'s outputs '
                f'({", ".join(stage.outputs) or "none"}) and everything after it to redo it')
        return all(self.exists(output) for output in stage.outputs)

    def run(self, stages: Sequence[Stage]) -> None:
        for number, stage in enumerate(stages, 1):
            header = f'[{number}/{len(stages)}] {stage.title}'
            if self.is_done(stage):
                print(f'\n{header}: finished earlier, skipped', flush=True)
                self.results.append(StageResult(stage.title, 0.0, True))
                continue
            print(f'\n{header}', flush=True)
            if stage.command:
                print(f'  $ {shell_join([self.relative(sys.executable)] + stage.signature())}',
                      flush=True)
            else:
                print(f'  ({stage.describe})', flush=True)
            start, cpu_start = time.monotonic(), children_cpu_seconds()
            if stage.action is not None:
                stage.action()
            else:
                self.run_command(stage)
            missing = [output for output in stage.outputs if not self.exists(output)]
            if missing:
                raise SamWsssError(f'stage "{stage.title}" finished but left no '
                                   f'{", ".join(missing)}; see its output above')
            seconds = time.monotonic() - start
            cpu_seconds = children_cpu_seconds() - cpu_start
            with atomic_write(self.marker(stage), 'w') as handle:
                json.dump(dict(command=stage.signature(), seconds=round(seconds, 1),
                               cpu_seconds=round(cpu_seconds, 1)), handle, indent=1)
            print(f'  done in {seconds:.1f} s (CPU {cpu_seconds:.1f} s)', flush=True)
            self.results.append(StageResult(stage.title, seconds, False, cpu_seconds))

    def relative(self, path: str) -> str:
        """``path`` as the printed commands see it: relative to ``cwd`` when inside it."""
        return relative_to(path, self.cwd)

    def run_command(self, stage: Stage) -> None:
        argv = [sys.executable] + list(stage.command)
        env = dict(os.environ, PYTHONUNBUFFERED='1')
        # Spinning OpenMP threads make CPU training several times slower as soon as another
        # process shares the cores; sleeping ones cost nothing measurable on an idle machine.
        env.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
        env.pop(FLAG_NAMES_ENV, None)
        if stage.flag_names:
            env[FLAG_NAMES_ENV] = json.dumps(stage.flag_names)
        if not stage.mmengine:
            code = subprocess.call(argv, cwd=self.cwd, env=env)
            if code != 0:
                raise SamWsssError(f'stage "{stage.title}" failed (exit {code}); its message '
                                   'is above; fix it and rerun (finished stages are skipped)')
            return
        log_path = osp.join(self.cwd, self.work_dir, 'logs', f'{stage.key}.log')
        os.makedirs(osp.dirname(log_path), exist_ok=True)
        print(f'  log: {self.relative(log_path)}', flush=True)
        code, tail = stream_runner_log(argv, log_path, stage.key, self.verbose, env,
                                       self.cwd)
        if code != 0:
            sys.stderr.write(''.join(tail))
            raise SamWsssError(f'stage "{stage.title}" failed (exit {code}); the end of its '
                               f'log is above, all of it in {self.relative(log_path)}')


def relative_to(path: str, root: str) -> str:
    """``path`` relative to ``root`` when inside it, else absolute."""
    absolute = osp.abspath(path)
    inside = osp.relpath(absolute, osp.abspath(root))
    return absolute if inside.startswith('..') else inside


def stream_runner_log(argv: List[str], log_path: str, desc: str, verbose: bool,
                      env: Dict[str, str], cwd: str) -> Tuple[int, List[str]]:
    """Run an mmengine tool: whole log to ``log_path``, a progress bar per loop on the terminal.

    Returns:
        tuple: ``(exit code, last 40 log lines)``.
    """
    bars: Dict[str, tqdm] = {}
    finished = set()
    tail: List[str] = []
    with open(log_path, 'a', encoding='utf-8') as log, subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1) as process:
        for line in process.stdout:
            log.write(line)
            log.flush()
            tail = (tail + [line])[-40:]
            match = ITER_LINE.search(line)
            if match:
                phase, done, total = match.group(1), int(match.group(2)), int(match.group(3))
                bar = bars.get(phase)
                if bar is None and not (done >= total and phase in finished):
                    # Starts at the first logged iteration, so the rate shown is true.
                    bar = bars[phase] = tqdm(total=total, initial=done, unit='it',
                                             desc=f'  {desc} [{phase}]', dynamic_ncols=True)
                if bar is not None:
                    loss = LOSS_VALUE.search(line)
                    if loss:
                        bar.set_postfix_str(f'loss {loss.group(1)}', refresh=False)
                    bar.update(done - bar.n)
                    if done >= total:  # one bar at a time: the next loop's lines print cleanly
                        bar.close()
                        del bars[phase]
                        finished.add(phase)
            if verbose or (not match and SHOWN_LINE.search(line)):
                tqdm.write('  ' + line.rstrip())
        process.wait()
    for bar in bars.values():
        bar.close()
    return process.returncode, tail


def children_cpu_seconds() -> float:
    """User + system CPU time of the finished child processes (the tools) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def shell_join(argv: Sequence[str]) -> str:
    return ' '.join(shlex.quote(str(arg)) for arg in argv)
