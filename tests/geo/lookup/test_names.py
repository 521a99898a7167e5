"""Name folding (geo.lookup.names): the ASCII shortcut gives what the full fold gives."""

from hypothesis import given
from hypothesis import strategies as st

from geo.lookup.names import fold_unicode, normalise_name


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_text_folds_as_any_text_does(text: str) -> None:
    assert normalise_name(text) == fold_unicode(text)


def test_ascii_shortcut_covers_case_separators_and_underscores() -> None:
    assert normalise_name("  I_live in\tKIGALI-City!! ") == "i live in kigali city"
    assert (
        normalise_name("Région du Centre") == fold_unicode("Région du Centre") == "region du centre"
    )
