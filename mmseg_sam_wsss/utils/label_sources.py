"""Which masks made a folder of labels: read from the folder's own record, so that the mask
source travels with the data into training and test logs and evaluation results.

The label tools record it: ``enhance_pseudo_labels`` and ``sesam_pseudo_labels`` keep
``settings.mask_source`` in ``<out>/.provenance.json``; a mask store keeps ``source`` in
``store.json``. A folder without a record (GT, another method's labels) says so. Pure Python.
"""
import json
import os.path as osp
from typing import Dict, Optional

PROVENANCE_NAME = '.provenance.json'  # utils.provenance's record (not imported: no mmseg here)
STORE_JSON = 'store.json'


def _read_json(path: str) -> Optional[dict]:
    try:
        with open(path, encoding='utf-8') as handle:
            value = json.load(handle)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def folder_source(path: Optional[str]) -> Dict[str, Optional[str]]:
    """What made ``path``: ``{'path', 'made_by', 'mask_source'}``.

    ``made_by`` is the tool of the folder's ``.provenance.json`` (``'mask store'`` for a store,
    None without a record); ``mask_source`` the masks' source (``'sam-vit_b'``, ``'oracle
    (GT components, not SAM)'``...), None where no masks were used or nothing is recorded.
    """
    if not path:
        return {'path': None, 'made_by': None, 'mask_source': None}
    real = osp.realpath(path)
    record = _read_json(osp.join(real, PROVENANCE_NAME)) or {}
    settings = record.get('settings') if isinstance(record.get('settings'), dict) else {}
    made_by = record.get('tool')
    mask_source = settings.get('mask_source') or (
        settings.get('source') if made_by and made_by.startswith('mask_store') else None)
    store = _read_json(osp.join(real, STORE_JSON))
    if store is not None and store.get('source'):
        made_by, mask_source = made_by or 'mask store', store['source']
    return {'path': real, 'made_by': made_by, 'mask_source': mask_source}


def source_text(info: Dict[str, Optional[str]]) -> str:
    """``info`` of :func:`folder_source` in words, for a log line."""
    if not info.get('path'):
        return 'none'
    if not info.get('made_by'):
        return (f'{info["path"]} (no {PROVENANCE_NAME}: GT or labels made elsewhere; mask '
                'source unknown)')
    masks = f'masks: {info["mask_source"]}' if info.get('mask_source') else 'no masks'
    return f'{info["path"]} (made by {info["made_by"]}; {masks})'
