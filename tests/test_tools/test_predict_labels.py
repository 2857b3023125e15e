"""tools/predict_labels.py on voc_mini train images with the smoke DeepLabV3 models.

The checkpoints are written by the tests (a built model's state_dict in mmengine's format):
random weights, so the predictions only exercise the tool, they are no results.
"""
import json
import os
import os.path as osp

import numpy as np
import pytest
from helpers import load_tool, run_tool
from PIL import Image

from mmseg_sam_wsss.core.io import read_ids, read_label_png
from mmseg_sam_wsss.errors import SamWsssError

BASELINE = 'configs/smoke/deeplabv3_r50_voc_smoke.py'
SESAM = 'configs/smoke/deeplabv3_voc_point_smoke.py'
NUM_CLASSES = 21
NUM_IDS = 2


@pytest.fixture(scope='module')
def tool(repo_root):
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    return load_tool(repo_root, 'predict_labels')


def _save_random_checkpoint(tool, repo_root, config, options, path):
    """Build ``config``'s model with random weights and save it as mmengine does."""
    import torch
    from mmengine.registry import init_default_scope

    from mmseg.registry import MODELS

    args = tool.parse_args([osp.join(repo_root, config), 'unused.pth', '--img-dir', '.',
                            '--out', '.', '--cfg-options'] + options)
    cfg = tool.load_config(args)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    torch.save(dict(meta=dict(iter=0), state_dict=model.state_dict()), path)
    return model


@pytest.fixture(scope='module')
def inputs(tool, repo_root, voc_mini, voc_options, tmp_path_factory):
    """Train ids, and random-weight checkpoints of the baseline and of the SeSAM model."""
    root = tmp_path_factory.mktemp('predict')
    ids = read_ids(osp.join(voc_mini, 'ImageSets', 'Segmentation', 'train.txt'))[:NUM_IDS]
    ids_file = root / 'ids.txt'
    ids_file.write_text('\n'.join(ids) + '\n')
    options = voc_options(voc_mini)
    baseline = str(root / 'baseline.pth')
    sesam_model = _save_random_checkpoint(tool, repo_root, SESAM, options,
                                          str(root / 'sesam.pth'))
    _save_random_checkpoint(tool, repo_root, BASELINE, options, baseline)
    return dict(root=root, ids=ids, ids_file=str(ids_file), baseline=baseline,
                baseline_options=options, sesam=str(root / 'sesam.pth'), sesam_options=options,
                sesam_model=sesam_model)


def _argv(repo_root, voc_mini, config, checkpoint, ids_file, out, options, *extra):
    return ([osp.join(repo_root, config), checkpoint, '--img-dir',
             osp.join(voc_mini, 'JPEGImages'), '--ids', ids_file, '--out', str(out),
             '--device', 'cpu'] + list(extra) + ['--cfg-options'] + options)


def _predictions(out, image_id):
    return (read_label_png(osp.join(out, image_id + '.png')),
            read_label_png(osp.join(out, image_id + '_conf.png')))


def test_predict_labels_writes_classes_and_confidence(tool, repo_root, voc_mini, inputs,
                                                      capsys):
    out = inputs['root'] / 'baseline_out'
    argv = _argv(repo_root, voc_mini, BASELINE, inputs['baseline'], inputs['ids_file'], out,
                 inputs['baseline_options'])
    assert tool.main(argv) == 0
    for image_id in inputs['ids']:
        with Image.open(osp.join(voc_mini, 'JPEGImages', image_id + '.jpg')) as image:
            width, height = image.size
        class_map, confidence = _predictions(out, image_id)
        assert class_map.shape == confidence.shape == (height, width)
        assert class_map.dtype == confidence.dtype == np.uint8
        assert class_map.max() < NUM_CLASSES
        # The max softmax of C classes is at least 1/C.
        assert confidence.min() >= np.floor(255 / NUM_CLASSES) and confidence.max() <= 255
    # Independent check against mmseg's own inference on the same pipeline and weights.
    from mmseg.apis import inference_model, init_model
    cfg = tool.load_config(tool.parse_args(argv))
    cfg.test_pipeline = tool.test_pipeline_cfg(cfg)
    model = init_model(cfg, inputs['baseline'], device='cpu')
    image_id = inputs['ids'][0]
    result = inference_model(model, osp.join(voc_mini, 'JPEGImages', image_id + '.jpg'))
    probabilities = result.seg_logits.data.softmax(dim=0).numpy()
    class_map, confidence = _predictions(out, image_id)
    # near-ties of the logits may flip a pixel between thread counts: at most 1 in 10,000
    assert (class_map != result.pred_sem_seg.data[0].numpy()).mean() <= 1e-4
    expected = np.round(255 * probabilities.max(0))
    assert np.abs(confidence - expected).max() <= 1
    with open(out / 'predict_meta.json') as handle:
        meta = json.load(handle)
    assert meta['checkpoint'] == osp.abspath(inputs['baseline']) and meta['tta'] is None
    assert meta['model_type'] == 'EncoderDecoder' and meta['num_classes'] == NUM_CLASSES
    # A rerun skips the finished ids and leaves them untouched.
    stamp = os.stat(out / (image_id + '.png')).st_mtime_ns
    capsys.readouterr()
    assert tool.main(argv) == 0
    assert f'0 written, {NUM_IDS} already done' in capsys.readouterr().out
    assert os.stat(out / (image_id + '.png')).st_mtime_ns == stamp
    # Another setting into the same folder is refused, not mixed in; --overwrite replaces.
    with pytest.raises(SamWsssError, match='other settings or inputs .*tta'):
        tool.main(argv + ['--tta', '--tta-scales', '1.0'])
    assert os.stat(out / (image_id + '.png')).st_mtime_ns == stamp
    assert tool.main(argv + ['--tta', '--tta-scales', '1.0', '--overwrite']) == 0
    with open(out / 'predict_meta.json') as handle:
        assert json.load(handle)['tta'] == dict(scales=[1.0], flip=True)


def test_tta_averages_flips_and_scales(tool, repo_root, voc_mini, inputs, tmp_path):
    argv = _argv(repo_root, voc_mini, BASELINE, inputs['baseline'], inputs['ids_file'],
                 tmp_path / 'tta', inputs['baseline_options'], '--tta', '--tta-scales', '0.5',
                 '1.0')
    assert tool.main(argv) == 0
    with open(tmp_path / 'tta' / 'predict_meta.json') as handle:
        assert json.load(handle)['tta'] == dict(scales=[0.5, 1.0], flip=True)
    for image_id in inputs['ids']:
        class_map, confidence = _predictions(tmp_path / 'tta', image_id)
        plain_map, _ = _predictions(inputs['root'] / 'baseline_out', image_id)
        assert class_map.shape == plain_map.shape and class_map.max() < NUM_CLASSES
    # The flipped pass is undone before averaging: TTA(image) equals the mean of the plain
    # prediction and the mirrored plain prediction of the mirrored image (a 192x128 crop, which
    # the test Resize keeps at its size, saved losslessly).
    image = np.asarray(Image.open(osp.join(voc_mini, 'JPEGImages',
                                           inputs['ids'][0] + '.jpg')))[:128, :192]
    Image.fromarray(image).save(tmp_path / 'crop.png')
    Image.fromarray(image[:, ::-1]).save(tmp_path / 'mirror.png')
    args = tool.parse_args(argv)
    cfg = tool.load_config(args)
    model = tool.build_model(cfg, inputs['baseline'], BASELINE, 'cpu')
    pipeline = tool.test_pipeline_cfg(cfg)
    plain = tool.Predictor(model, pipeline, [(1.0, False)])
    flipped = tool.Predictor(model, pipeline, [(1.0, False), (1.0, True)])
    expected = (plain(str(tmp_path / 'crop.png'))
                + plain(str(tmp_path / 'mirror.png'))[:, :, ::-1]) / 2
    np.testing.assert_allclose(flipped(str(tmp_path / 'crop.png')), expected, atol=1e-5)


def test_semi_supervised_segmentor_predicts_with_its_teacher(tool, repo_root, voc_mini, inputs,
                                                             tmp_path):
    import torch
    ids_file = tmp_path / 'one_id.txt'
    ids_file.write_text(inputs['ids'][0] + '\n')

    def predict(config, checkpoint, out, options):
        argv = _argv(repo_root, voc_mini, config, checkpoint, str(ids_file), tmp_path / out,
                     options)
        assert tool.main(argv) == 0
        return _predictions(tmp_path / out, inputs['ids'][0])

    teacher = predict(SESAM, inputs['sesam'], 'teacher', inputs['sesam_options'])
    with open(tmp_path / 'teacher' / 'predict_meta.json') as handle:
        meta = json.load(handle)
    assert meta['model_type'] == 'SemiSupervisedSegmentor' and meta['predict_on'] == 'teacher'
    # The teacher's weights alone, in the plain DeepLabV3 config, predict the same.
    teacher_only = {key[len('teacher.'):]: value
                    for key, value in inputs['sesam_model'].state_dict().items()
                    if key.startswith('teacher.')}
    torch.save(dict(meta={}, state_dict=teacher_only), tmp_path / 'teacher.pth')
    plain = predict(BASELINE, str(tmp_path / 'teacher.pth'), 'plain', inputs['baseline_options'])
    for ours, reference in zip(teacher, plain):
        np.testing.assert_array_equal(ours, reference)
    # predict_on='student' answers with the student (randomly initialised apart from it).
    student = predict(SESAM, inputs['sesam'], 'student',
                      inputs['sesam_options'] + ['model.predict_on=student'])
    assert (student[1] != teacher[1]).any()


def test_bad_checkpoints_are_one_line(tool, repo_root, voc_mini, inputs, tmp_path):
    import torch
    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(b'not a checkpoint at all')
    with open(inputs['baseline'], 'rb') as handle:
        (tmp_path / 'truncated.pth').write_bytes(handle.read()[:100000])
    torch.save([1, 2, 3], tmp_path / 'list.pth')
    cases = [(str(garbage), 'not a PyTorch checkpoint'),
             (str(tmp_path / 'truncated.pth'), 'not a PyTorch checkpoint'),
             (str(tmp_path / 'list.pth'), 'holds no state_dict'),
             (inputs['sesam'], 'not a checkpoint of the model of .*weights missing'),
             (str(tmp_path / 'missing.pth'), 'checkpoint not found')]
    for checkpoint, message in cases:
        argv = _argv(repo_root, voc_mini, BASELINE, checkpoint, inputs['ids_file'],
                     tmp_path / 'out', inputs['baseline_options'])
        with pytest.raises(SamWsssError, match=message) as error:
            tool.main(argv)
        assert '\n' not in str(error.value)
    assert not osp.exists(tmp_path / 'out')  # nothing written, not even predict_meta.json


@pytest.mark.slow
def test_bad_checkpoint_exits_with_one_line(repo_root, voc_mini, tmp_path):
    garbage = tmp_path / 'garbage.pth'
    garbage.write_bytes(b'not a checkpoint at all')
    result = run_tool(repo_root, ['tools/predict_labels.py', BASELINE, str(garbage), '--img-dir',
                                  osp.join(voc_mini, 'JPEGImages'), '--out', str(tmp_path),
                                  '--device', 'cpu'], check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count('\n') == 0, result.stderr
    assert 'not a PyTorch checkpoint' in result.stderr


def test_sesam_round_two_reads_the_predictions(tool, repo_root, voc_mini, inputs, tmp_path):
    """The two tools agree on the files: round 2 takes them without --trust-argmax, reads the
    confidence (none of a random model's pixels reach 0.9, all reach 0), and records what made
    them."""
    ids_file = tmp_path / 'one_id.txt'
    ids_file.write_text(inputs['ids'][0] + '\n')
    assert tool.main(_argv(repo_root, voc_mini, BASELINE, inputs['baseline'], str(ids_file),
                           tmp_path / 'pred', inputs['baseline_options'])) == 0
    make_tool = load_tool(repo_root, 'make_weak_labels')
    sesam_tool = load_tool(repo_root, 'sesam_pseudo_labels')
    gt_dir = osp.join(voc_mini, 'SegmentationClass')
    assert make_tool.main(['--gt', gt_dir, '--type', 'scribble', '--out', str(tmp_path / 'weak'),
                           '--ids', str(ids_file)]) == 0
    common = ['--img-dir', osp.join(voc_mini, 'JPEGImages'), '--weak-dir',
              str(tmp_path / 'weak'), '--out', str(tmp_path / 'sesam'), '--ids', str(ids_file),
              '--source', 'oracle', '--gt-dir', gt_dir]
    assert sesam_tool.main(common + ['--round', '1']) == 0
    assert sesam_tool.main(common + ['--round', '2', '--pred-dir', str(tmp_path / 'pred'),
                                     '--conf-thresh', '0.9']) == 0
    labels = [read_label_png(str(tmp_path / 'sesam' / f'round_{r}' / (inputs['ids'][0] + '.png')))
              for r in (1, 2)]
    np.testing.assert_array_equal(labels[0], labels[1])
    assert sesam_tool.main(common[:5] + [str(tmp_path / 'sesam_all')] + common[6:] + [
        '--round', '2', '--pred-dir', str(tmp_path / 'pred'), '--conf-thresh', '0',
        '--pred-classes', 'all', '--previous', 'replace']) == 0  # no guard: every pixel
    every_pixel = read_label_png(str(tmp_path / 'sesam_all' / 'round_2' /
                                     (inputs['ids'][0] + '.png')))
    assert (every_pixel != labels[0]).mean() > 0.1  # the random predictions, used everywhere
    with open(tmp_path / 'sesam' / 'sesam_meta.json') as handle:
        prediction = json.load(handle)['rounds']['2']['prediction']
    assert prediction['checkpoint'] == osp.abspath(inputs['baseline'])
    assert prediction['confidence'].endswith('round(255 * max softmax)')
