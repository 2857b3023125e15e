"""utils/cli.parse_key_values: the KEY=VALUE flags of the tools (--oracle-options,
--rule-options) give typed values, and a malformed item or an unknown key is one clear error."""
import pytest

from mmseg_sam_wsss.errors import SamWsssError
from mmseg_sam_wsss.utils.cli import parse_key_values


def test_values_are_python_literals():
    options = parse_key_values(['ratio=0.6', 'count=3', 'flag=True', 'size=(2, 3)'], '--opts')
    assert options == {'ratio': 0.6, 'count': 3, 'flag': True, 'size': (2, 3)}
    assert parse_key_values([], '--opts') == {}


@pytest.mark.parametrize('item, message', [
    ('ratio', r"--opts 'ratio': expected KEY=VALUE$"),
    ('=1', r"--opts '=1': expected KEY=VALUE$"),
    ('ratio=abc', r"--opts 'ratio=abc': 'abc' is not a number"),
])
def test_malformed_items_are_named(item, message):
    with pytest.raises(SamWsssError, match=message):
        parse_key_values([item], '--opts')


def test_unknown_keys_list_the_allowed_ones():
    with pytest.raises(SamWsssError, match=r"--opts 'bad=1': expected KEY=VALUE with KEY one "
                       r'of ratio, count \(Thing\)'):
        parse_key_values(['ratio=1', 'bad=1'], '--opts', ['ratio', 'count'], ' (Thing)')
