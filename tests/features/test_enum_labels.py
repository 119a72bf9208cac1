from features.enum_labels import ENUM_FIELDS, enum_labels, label_of
from features.schema import FIELD_SPECS


def test_every_enum_value_has_both_names():
    for field in ENUM_FIELDS:
        labels = enum_labels(field)
        assert tuple(labels) == FIELD_SPECS[field].enum
        assert all(zh and en for zh, en in labels.values())


def test_label_of_picks_the_language():
    assert label_of("worst_loan_class", "substandard") == "次级"
    assert label_of("worst_loan_class", "substandard", "en") == "substandard"
    assert label_of("latest_round", "a") == "A轮"
