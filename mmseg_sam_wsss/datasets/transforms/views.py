"""Two views of one crop for mean-teacher training: clean for the teacher, strong for the student."""
from typing import Dict, List, Optional

from mmcv.transforms import BaseTransform, Compose

from mmseg.registry import TRANSFORMS

from ...errors import SamWsssError

#: Key of the teacher's (weak, clean) view in the results dict and in the packed data sample.
TEACHER_IMG = 'teacher_img'


@TRANSFORMS.register_module()
class StudentTeacherViews(BaseTransform):
    """Keep the clean crop for the EMA teacher; apply ``student_transforms`` to the student's.

    The weak/strong pair of FixMatch-style segmentation and of mmdet 3.x's ``MultiBranch`` +
    ``SemiBaseDetector``, as one pipeline step: every geometric transform runs once before it,
    so both views share one geometry and the labels line up with both pixel for pixel; the
    photometric ones (``PhotoMetricDistortion`` by default) run after it on the student's copy
    only. :class:`PackSemiSegInputs` packs the teacher's view into the data sample, and
    ``SemiSupervisedSegmentor`` normalises and pads it as the data preprocessor does the
    student's. Place it after ``RandomResize``/``RandomCrop``/``RandomFlip`` and before
    ``PackSemiSegInputs``, instead of a bare ``PhotoMetricDistortion``.

    Required keys: ``img``.

    Added keys: ``teacher_img`` (a copy of ``img`` before ``student_transforms``).

    Modified keys: those of ``student_transforms`` (``img``).

    Args:
        student_transforms (list[dict], optional): Photometric transforms of the student's
            view; they must not change the image size. Default: None
            (``[dict(type='PhotoMetricDistortion')]``).
    """

    def __init__(self, student_transforms: Optional[List[dict]] = None) -> None:
        if student_transforms is None:
            student_transforms = [dict(type='PhotoMetricDistortion')]
        self.student_transforms = list(student_transforms)
        self.student_pipeline = Compose(self.student_transforms)

    def transform(self, results: Dict) -> Dict:
        if 'img' not in results:
            raise SamWsssError('StudentTeacherViews needs img: put LoadImageFromFile and the '
                               'geometric transforms before it')
        teacher_img = results['img'].copy()
        results = self.student_pipeline(results)
        if results['img'].shape[:2] != teacher_img.shape[:2]:
            raise SamWsssError(f'StudentTeacherViews: student_transforms changed the image size '
                               f'{teacher_img.shape[:2]} -> {results["img"].shape[:2]}; put '
                               'geometric transforms before StudentTeacherViews, photometric '
                               'ones in student_transforms')
        results[TEACHER_IMG] = teacher_img
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(student_transforms={self.student_transforms})'
