"""Import, export and verify compact mask stores.

    python tools/mask_store.py import-amg SRC STORE [--ids IDS.txt] [--source amg-import]
        [--skip-bad] [--overwrite]
    python tools/mask_store.py export-amg STORE DST [--ids IDS.txt] [--skip-bad] [--overwrite]
    python tools/mask_store.py verify STORE [--ids IDS.txt]

``SRC``/``DST`` use segment-anything ``scripts/amg.py``'s layout (``<id>/<k>.png`` 0/255 and
``<id>/metadata.csv``). ``verify`` decodes every file and checks that it holds the masks of its
own image and store (a file copied under another id or from another store is a problem) and
that the stored areas and boxes match the masks; it exits 1 on any problem, including a file
whose header exceeds the caps (``--max-pixels``, ``--max-masks``, ``--max-runs``; defaults
``core/mask_store.py``'s ``DEFAULT_MASK_LIMITS``). Masks are decoded a few at a time, so
memory stays near ``--max-pixels`` bytes times a small factor. ``import-amg`` and
``export-amg`` resume only into a folder made from the same source (``.provenance.json``);
``--overwrite`` replaces it.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402

from mmseg_sam_wsss.core.io import read_ids  # noqa: E402
from mmseg_sam_wsss.core.mask_store import (DEFAULT_MASK_LIMITS, MaskLimits,  # noqa: E402
                                            MaskSet, MaskStore, amg_folder_source,
                                            read_amg_folder,
                                            write_amg_folder)
from mmseg_sam_wsss.errors import SamWsssError  # noqa: E402
from mmseg_sam_wsss.utils.cli import (BadInputTally, add_common_args,  # noqa: E402
                                      add_overwrite_arg, document_ranges, int_in,
                                      iter_progress, run_per_id, run_tool)

# verify decodes at most this many mask pixels at once (at least one mask).
DECODE_CHUNK_PIXELS = 1 << 24
from mmseg_sam_wsss.utils.provenance import OutputRecord  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='Import/export/verify mask stores')
    commands = parser.add_subparsers(dest='command', required=True)
    import_amg = commands.add_parser('import-amg', help='amg.py folder -> mask store')
    import_amg.add_argument('src', help='amg.py output folder (<id>/<k>.png)')
    import_amg.add_argument('store', help='mask store directory (created if missing)')
    import_amg.add_argument('--source', default=None,
                            help='source string of the new store (default: the source of the '
                            'store SRC was exported from, recorded by export-amg, else '
                            'amg-import); say "sam" only when the folder holds real SAM output')
    add_common_args(import_amg, workers=False)
    add_overwrite_arg(import_amg)
    export_amg = commands.add_parser('export-amg', help='mask store -> amg.py folder')
    export_amg.add_argument('store', help='mask store directory')
    export_amg.add_argument('dst', help='output folder')
    add_common_args(export_amg, workers=False)
    add_overwrite_arg(export_amg)
    verify = commands.add_parser('verify', help='decode every file and check its metadata')
    verify.add_argument('store', help='mask store directory')
    verify.add_argument('--ids', help='file with one image id per line (default: all)')
    limits = DEFAULT_MASK_LIMITS
    verify.add_argument('--max-pixels', type=int_in(1, 1 << 34), default=limits.max_pixels,
                        help='refuse files whose header claims more pixels per image '
                        f'(default: {limits.max_pixels})')
    verify.add_argument('--max-masks', type=int_in(0, 1 << 30), default=limits.max_masks,
                        help=f'refuse files of more masks (default: {limits.max_masks})')
    verify.add_argument('--max-runs', type=int_in(0, 1 << 32), default=limits.max_runs,
                        help='refuse files of more run lengths, all masks together '
                        f'(default: {limits.max_runs})')
    return document_ranges(parser)


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def check_mask_set(mask_set: MaskSet, name: str) -> None:
    """Raise unless the stored areas and XYWH boxes match the decoded masks (decoded a few
    at a time: at most :data:`DECODE_CHUNK_PIXELS` pixels, or one mask, at once)."""
    pixels = max(mask_set.height * mask_set.width, 1)
    chunk = max(DECODE_CHUNK_PIXELS // pixels, 1)
    for first in range(0, len(mask_set), chunk):
        indices = list(range(first, min(first + chunk, len(mask_set))))
        masks = mask_set.decode(indices)
        if masks.shape != (len(indices), mask_set.height, mask_set.width):
            raise SamWsssError(f'{name}: decoded masks have shape {masks.shape}')
        if not np.array_equal(masks.sum((1, 2)), mask_set.areas[indices]):
            raise SamWsssError(f'{name}: stored areas differ from the masks; re-create the '
                               'file')
        for index, mask in zip(indices, masks):
            ys, xs = np.nonzero(mask)
            box = ([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
                   if len(xs) else [0, 0, 0, 0])
            if not np.array_equal(np.asarray(box, np.float32), mask_set.bboxes[index]):
                raise SamWsssError(f'{name}: box of mask {index} is {mask_set.bboxes[index]}, '
                                   f'the mask spans {box}; re-create the file')


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.command == 'import-amg':
        if not osp.isdir(args.src):
            raise SamWsssError(f'{args.src}: amg.py folder not found')
        ids = read_ids(args.ids) if args.ids else sorted(
            name for name in os.listdir(args.src) if osp.isdir(osp.join(args.src, name)))
        if not ids:
            raise SamWsssError(f'{args.src}: no <id>/ mask folders found')
        source = args.source or amg_folder_source(args.src)
        OutputRecord(args.store, 'mask_store import-amg', inputs={'SRC': args.src},
                     settings={'source': source}, outputs=['*.samm', 'store.json'],
                     out_flag='STORE').check_or_write(args.overwrite)
        store = MaskStore(args.store, create=True, source=source,
                          settings={'imported_from': osp.abspath(args.src)})

        def import_one(image_id: str) -> None:
            mask_set = read_amg_folder(args.src, image_id)
            mask_set.source, mask_set.settings = store.source, store.settings
            store.write(image_id, mask_set)

        tally = run_per_id(ids, import_one, store.has, BadInputTally(args.skip_bad), 'import')
        print(f'{args.store}: {tally.summary()} (source {store.source!r})')
        return tally.exit_code()
    limits = (MaskLimits(args.max_pixels, args.max_masks, args.max_runs)
              if args.command == 'verify' else None)
    store = MaskStore(args.store, limits=limits)
    ids = read_ids(args.ids) if args.ids else store.ids()
    if args.command == 'export-amg':
        # The store's source goes into the record: a store imported back, and the tools that
        # read the folder, keep it (amg.py's layout has no place for it).
        OutputRecord(args.dst, 'mask_store export-amg', inputs={'STORE': store.identity()},
                     settings={'source': store.source, 'store_settings': store.settings},
                     outputs=['*/[0-9]*.png', '*/metadata.csv'],
                     out_flag='DST').check_or_write(args.overwrite)
        tally = run_per_id(
            ids, lambda image_id: write_amg_folder(args.dst, image_id, store.read(image_id)),
            lambda image_id: osp.isfile(osp.join(args.dst, image_id, 'metadata.csv')),
            BadInputTally(args.skip_bad), 'export')
        print(f'{args.dst}: {tally.summary()} (source {store.source!r})')
        return tally.exit_code()
    problems, num_masks, unrecorded = [], 0, 0
    for image_id in iter_progress(ids, 'verify'):
        try:
            mask_set = store.read(image_id)
            check_mask_set(mask_set, store.path(image_id))
            num_masks += len(mask_set)
            unrecorded += mask_set.image_id is None
        except SamWsssError as error:
            problems.append(str(error))
            print(f'problem: {error}', file=sys.stderr)
    note = (f'; {unrecorded} files of an older version record no image id (not checked for '
            'copies; regenerate them to check)' if unrecorded else '')
    print(f'{args.store}: {len(ids)} files, {num_masks} masks, {len(problems)} problems '
          f'(source {store.source!r}){note}')
    return 1 if problems else 0


if __name__ == '__main__':
    run_tool(main)
