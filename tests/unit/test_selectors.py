import pytest

from minikube_py.model.selectors import (
    FieldSelector,
    LabelSelector,
    label_selector_from_spec,
    labels_to_string,
    parse_field_selector,
    parse_label_selector,
    selector_to_string,
)

WEB = {"app": "web", "tier": "front"}
DB = {"app": "db"}
NONE: dict[str, str] = {}


@pytest.mark.parametrize(
    ("text", "web", "db", "bare"),
    [
        ("app=web", True, False, False),
        ("app==web", True, False, False),
        ("app!=web", False, True, True),
        ("app in (web,db)", True, True, False),
        ("app in (web)", True, False, False),
        ("app notin (web)", False, True, True),
        ("tier", True, False, False),
        ("!tier", False, True, True),
        ("app=web,tier=front", True, False, False),
        ("app=web,tier=back", False, False, False),
        ("  app  =  web ,  tier  ", True, False, False),
        ("app in ( web , db )", True, True, False),
        ("", True, True, True),
    ],
)
def test_label_selector_matching(text: str, web: bool, db: bool, bare: bool) -> None:
    sel = parse_label_selector(text)
    assert (sel.matches(WEB), sel.matches(DB), sel.matches(NONE), sel.matches(None)) == (web, db, bare, bare)


def test_empty_value_and_empty_sets() -> None:
    assert parse_label_selector("app=").matches({"app": ""})
    assert not parse_label_selector("app=").matches({})
    assert parse_label_selector("app in ()").matches({"app": ""})
    assert parse_label_selector("x in (foo,,baz)").matches({"x": ""})
    assert str(parse_label_selector("x in (foo,,baz),y,z notin ()")) == "x in (,baz,foo),y,z notin ()"


def test_keywords_are_values_inside_sets_and_keys_at_start() -> None:
    assert parse_label_selector("a in (in,notin)").matches({"a": "notin"})
    assert parse_label_selector("in=notin").matches({"in": "notin"})


def test_numeric_comparisons() -> None:
    assert parse_label_selector("n>3").matches({"n": "4"})
    assert not parse_label_selector("n>3").matches({"n": "3"})
    assert parse_label_selector("n<3").matches({"n": "-1"})
    assert not parse_label_selector("n<3").matches({"n": "x"})
    assert not parse_label_selector("n<3").matches({})
    with pytest.raises(ValueError, match="the value must be an integer"):
        parse_label_selector("n>x")


def test_prefixed_keys() -> None:
    sel = parse_label_selector("app.kubernetes.io/name=web")
    assert sel.matches({"app.kubernetes.io/name": "web"})


def test_string_form_is_sorted_by_key() -> None:
    assert str(parse_label_selector("z=1,a!=2,!m")) == "a!=2,!m,z=1"
    assert parse_label_selector("").empty
    assert not parse_label_selector("a").empty


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a=b=c", "found '=', expected: ',' or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("a in x", "unable to parse requirement: found 'x' expected: '('"),
        ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a!!b", "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
    ],
)
def test_syntax_errors_carry_kubernetes_messages(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_label_selector(text)
    assert str(exc.value) == message


def test_invalid_key_and_value_messages() -> None:
    with pytest.raises(ValueError) as exc:
        parse_label_selector("-a=b")
    assert str(exc.value).startswith(
        'unable to parse requirement: <nil>: Invalid value: "-a": name part must consist of '
        "alphanumeric characters, '-', '_' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used"
    )
    with pytest.raises(ValueError) as exc:
        parse_label_selector("a=-b")
    assert str(exc.value).startswith(
        'unable to parse requirement: values[0][a]: Invalid value: "-b": a valid label must be an empty string'
    )
    with pytest.raises(ValueError, match="must be no more than 63 characters"):
        parse_label_selector("a=" + "x" * 64)
    with pytest.raises(ValueError, match="prefix part a lowercase RFC 1123 subdomain"):
        parse_label_selector("Bad_Prefix/a=b")


def test_spec_semantics_none_empty_and_expressions() -> None:
    assert label_selector_from_spec(None).matches(WEB) is False
    assert label_selector_from_spec(None).empty is False
    assert label_selector_from_spec({}).matches(WEB) is True
    assert label_selector_from_spec({"matchLabels": {}, "matchExpressions": []}).empty
    spec = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "back"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "env", "operator": "NotIn", "values": ["prod"]},
            {"key": "app", "operator": "Exists"},
        ],
    }
    sel = label_selector_from_spec(spec)
    assert sel.matches(WEB)
    assert not sel.matches({**WEB, "canary": "1"})
    assert not sel.matches({**WEB, "env": "prod"})
    assert not sel.matches(DB)


def test_spec_errors() -> None:
    with pytest.raises(ValueError) as exc:
        label_selector_from_spec({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]})
    assert str(exc.value) == '"Equals" is not a valid label selector operator'
    with pytest.raises(ValueError, match="for 'in', 'notin' operators, values set can't be empty"):
        label_selector_from_spec({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})
    with pytest.raises(ValueError, match="values set must be empty for exists and does not exist"):
        label_selector_from_spec({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})


def test_selector_to_string_like_kubectl() -> None:
    spec = {
        "matchLabels": {"tier": "front", "app": "web"},
        "matchExpressions": [
            {"key": "env", "operator": "NotIn", "values": ["qa", "dev"]},
            {"key": "old", "operator": "DoesNotExist"},
        ],
    }
    assert selector_to_string(spec) == "app=web,env notin (dev,qa),!old,tier=front"
    assert selector_to_string({}) == "<none>"
    assert selector_to_string(None) == "<none>"
    assert selector_to_string({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}) == "<error>"
    spec = {
        "matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["b", "a"]},
            {"key": "gpu", "operator": "Exists"},
        ],
        "matchLabels": {"app": "db"},
    }
    assert selector_to_string(spec) == "app=db,gpu,zone in (a,b)"  # sorted by key, as kubectl prints it
    assert selector_to_string({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}) == "<error>"
    assert labels_to_string({"b": "2", "a": "1"}) == "a=1,b=2"
    assert labels_to_string({}) == "<none>"


def test_field_selector_parse_and_match() -> None:
    sel = parse_field_selector("spec.nodeName=n1,status.phase!=Failed,metadata.name==p")
    assert sel.requirements == (
        ("metadata.name", "=", "p"),
        ("spec.nodeName", "=", "n1"),
        ("status.phase", "!=", "Failed"),
    )
    assert sel.matches({"metadata.name": "p", "spec.nodeName": "n1", "status.phase": "Running"})
    assert not sel.matches({"metadata.name": "p", "spec.nodeName": "n1", "status.phase": "Failed"})
    assert not sel.matches({"metadata.name": "p", "spec.nodeName": "n2"})


def test_field_selector_empty_value_selects_missing_fields() -> None:
    sel = parse_field_selector("spec.nodeName=")
    assert sel.matches({"spec.nodeName": ""})
    assert sel.matches({})
    assert not sel.matches({"spec.nodeName": "n1"})
    assert parse_field_selector("").empty
    assert parse_field_selector(",,").matches({"x": "y"})


def test_field_selector_escaping() -> None:
    sel = parse_field_selector(r"metadata.name=a\,b\=c\\d,type=x")
    assert sel.requirements == (("metadata.name", "=", "a,b=c\\d"), ("type", "=", "x"))
    assert str(sel) == r"metadata.name=a\,b\=c\\d,type=x"
    assert FieldSelector((("a", "!=", "b"),)).fields == ["a"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo", "invalid selector: 'foo'; can't understand 'foo'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        (r"a=b\x", r"invalid field selector: invalid escape sequence: \x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
    ],
)
def test_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_field_selector(text)
    assert str(exc.value) == message


def test_label_selector_value_object() -> None:
    assert LabelSelector(nothing=True).matches({}) is False
    assert LabelSelector().matches({"a": "b"}) is True


def test_field_selector_text_hints_only_for_literal_string_fields() -> None:
    selector = parse_field_selector("status.phase=Running,spec.nodeName!=n1,metadata.name=a\\,b")
    assert selector.text_hints() == ('"a,b"', '"Running"')
    # derived fields, empty values and values JSON would escape give no hint
    assert parse_field_selector("spec.unschedulable=false").text_hints() == ()
    assert parse_field_selector("spec.nodeName=").text_hints() == ()
    assert parse_field_selector('metadata.name=a"b').text_hints() == ()
