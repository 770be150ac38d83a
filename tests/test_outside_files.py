"""Files Baton did not write: what validation says about each, in the words an ops lead can act on.

Every issue names its element (id and name on one line) and says what to do; what Baton cannot
run (JavaScript, Groovy, XSLT, JUEL, service connectors, unknown functions) is refused by name;
SpiffWorkflow's own exception text never reaches the user. The corpus and where its style comes
from: tests/data/outside/README.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import LintIssue
from workflows.services import Services

OUTSIDE = Path(__file__).resolve().parent / "data" / "outside"
RUECKRUF = (Path(__file__).resolve().parent / "data" / "rueckruf.bpmn").read_text(encoding="utf-8")


def issues_of(services: Services, xml: bytes | str) -> list[LintIssue]:
    return services.definitions.validate(xml.encode() if isinstance(xml, str) else xml, {})


def by_element(issues: list[LintIssue]) -> dict[str | None, list[str]]:
    found: dict[str | None, list[str]] = {}
    for issue in issues:
        found.setdefault(issue.element_id, []).append(issue.code)
    return found


def with_step(xml: str, step: str) -> str:
    """The Rückruf process with `step` drawn (not connected) before its end event."""
    return xml.replace('<bpmn:endEvent id="Event_erledigt"', step + '<bpmn:endEvent id="Event_erledigt"', 1)


def test_a_camunda_invoice_is_refused_for_what_baton_cannot_run(services: Services) -> None:
    issues = issues_of(services, (OUTSIDE / "camunda7_invoice.bpmn").read_bytes())
    messages = {i.element_id: i.message for i in issues}
    assert messages["Activity_classify"] == (
        "script task 'Classify invoice' (Activity_classify):"
        " Baton runs Python scripts; this one is JavaScript"
    )
    assert "ArchiveInvoiceService" in messages["Activity_archive"]
    assert "no connector registered" in messages["Activity_archive"]
    assert "is JUEL ('${approved}')" in messages["Flow_yes"] and "JUEL" in messages["Flow_no"]
    # once each: the JavaScript is not also reported as a Python syntax error
    assert by_element(issues)["Activity_classify"] == ["script-format"]
    assert all(i.hint for i in issues)
    assert not any("operator" in i.message for i in issues)  # SpiffWorkflow's "must have an operator"
    names = {i.element_id: i.element_name for i in issues}
    assert names["Activity_archive"] == "Archive invoice" and names["Flow_yes"] == "yes"


def test_groovy_xslt_and_unknown_functions_are_named(services: Services) -> None:
    issues = issues_of(services, (OUTSIDE / "groovy_reminder.bpmn").read_bytes())
    messages = {i.element_id: i.message for i in issues}
    assert messages["compute_fee"].endswith("Baton runs Python scripts; this one is Groovy")
    assert messages["render_letter"].endswith("this one is XSLT")
    assert (
        messages["stamp"]
        == "the script of 'Stamp the date' (stamp) calls get_localtime(), which Baton does not have"
    )
    assert by_element(issues) == {
        "compute_fee": ["script-format"],
        "render_letter": ["script-format"],
        "stamp": ["function"],
    }


def test_a_miwg_file_with_two_pools_asks_which_process_runs(services: Services) -> None:
    (issue,) = issues_of(services, (OUTSIDE / "miwg_two_pools.bpmn").read_bytes())
    assert issue.code == "executable"
    assert "2 executable processes ('Quote' (WFP-6-1), 'Client' (WFP-6-2))" in issue.message
    assert 'isExecutable="true"' in issue.hint
    # told which one, the agency's rules speak: the plain tasks, the send task's lane role
    client_off = (
        (OUTSIDE / "miwg_two_pools.bpmn")
        .read_text()
        .replace(
            '<semantic:process id="WFP-6-2" name="Client">',
            '<semantic:process id="WFP-6-2" name="Client" isExecutable="false">',
        )
    )
    codes = by_element(issues_of(services, client_off))
    assert "plain-task" in codes["_prepare_quote"]
    prepare = next(i for i in issues_of(services, client_off) if i.element_id == "_prepare_quote")
    assert prepare.element_name == "Prepare quote"  # the line break of "Prepare&#10;quote" is a space
    assert "Make it a user task" in prepare.hint


def test_a_half_drawn_process_is_not_valid(services: Services) -> None:
    issues = issues_of(services, (OUTSIDE / "loose_ends.bpmn").read_bytes())
    messages = [i.message for i in issues]
    assert (
        "process 'Rückruf beim Kunden \u2013 Qualitätsprüfung' (rueckruf_entwurf) has no end event"
        in messages
    )
    assert "step 'Notizen ablegen' (Activity_0wacfci) is not connected to anything" in messages


def test_a_process_marked_not_executable_says_how_to_run_it(services: Services) -> None:
    (issue,) = issues_of(services, RUECKRUF.replace('isExecutable="true"', 'isExecutable="false"'))
    assert issue.message == "process rueckruf is marked not executable" and issue.code == "executable"
    assert "Executable" in issue.hint and ".." not in issue.message
    # no isExecutable at all: SpiffWorkflow runs it, and so does Baton
    assert issues_of(services, RUECKRUF.replace(' isExecutable="true"', "")) == []


def test_a_flow_to_nowhere_names_the_flow(services: Services) -> None:
    (issue,) = issues_of(services, RUECKRUF.replace('targetRef="Event_erledigt"', 'targetRef="Event_gone"'))
    assert issue.element_id == "Flow_2"
    assert issue.message == "flow Flow_2 ends at 'Event_gone', which is not a step of this process"
    assert "perhaps a form" not in issue.message  # SpiffWorkflow's guess at the cause


def test_steps_nobody_reaches_or_that_never_end(services: Services) -> None:
    looping = RUECKRUF.replace(
        '<bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="rueckruf_fuehren" />',
        '<bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="rueckruf_fuehren" />'
        '<bpmn:sequenceFlow id="Flow_orphan" sourceRef="orphan" targetRef="Event_erledigt" />',
    )
    looping = with_step(looping, '<bpmn:task id="orphan" name="Nobody gets here" />')
    (issue,) = [i for i in issues_of(services, looping) if i.code == "structure"]
    assert issue.message == "step 'Nobody gets here' (orphan) cannot be reached from the start event"
    stuck = RUECKRUF.replace(
        'sourceRef="rueckruf_fuehren" targetRef="Event_erledigt"',
        'sourceRef="rueckruf_fuehren" targetRef="rueckruf_fuehren"',
    )
    found = [i for i in issues_of(services, stuck) if i.code == "structure"]
    never = [i for i in found if "never leads to an end event" in i.message]
    assert [i.element_id for i in never] == ["StartEvent_1", "rueckruf_fuehren"]
    assert "a way out" in never[1].hint
    assert [i.message for i in found if i not in never] == [
        "event 'Erledigt' (Event_erledigt) is not connected to anything"
    ]


@pytest.mark.parametrize(
    ("step", "code", "words"),
    [
        ('<bpmn:serviceTask id="mail" name="Send mail" />', "service", "no connector registered"),
        (
            '<bpmn:scriptTask id="js" name="JS" scriptFormat="JavaScript">'
            "<bpmn:script>x = 1;</bpmn:script></bpmn:scriptTask>",
            "script-format",
            "Baton runs Python scripts; this one is JavaScript",
        ),
        (
            '<bpmn:scriptTask id="juel" name="J" scriptFormat="juel">'
            "<bpmn:script>${x}</bpmn:script></bpmn:scriptTask>",
            "script-format",
            "this one is JUEL",
        ),
        (
            '<bpmn:callActivity id="call" name="Call" calledElement="billing" />',
            "call",
            "calls process 'billing', which is not in this bundle",
        ),
        (
            '<bpmn:businessRuleTask id="rule" name="Decide"><bpmn:extensionElements>'
            "<spiffworkflow:calledDecisionId>approvers</spiffworkflow:calledDecisionId>"
            "</bpmn:extensionElements></bpmn:businessRuleTask>",
            "decision",
            "evaluates decision 'approvers', which is not in this bundle",
        ),
    ],
)
def test_each_unrunnable_construct_is_refused_with_its_message(
    services: Services, step: str, code: str, words: str
) -> None:
    xml = with_step(RUECKRUF, step)
    issues = [i for i in issues_of(services, xml) if i.code == code]
    assert len(issues) == 1 and words in issues[0].message and issues[0].hint
    assert issues[0].element_name  # named as well as identified


GATEWAY = """
    <bpmn:exclusiveGateway id="gw" name="Entscheidung?"{default}>
      <bpmn:incoming>Flow_1b</bpmn:incoming>
      <bpmn:outgoing>Flow_ok</bpmn:outgoing>
      <bpmn:outgoing>Flow_back</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="Flow_ok" sourceRef="gw" targetRef="Event_erledigt">
      <bpmn:conditionExpression>{ok}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="Flow_back" sourceRef="gw" targetRef="rueckruf_fuehren">
      <bpmn:conditionExpression>{back}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
"""
FORM = {
    "type": "object",
    "properties": {
        "ergebnis": {"type": "string", "enum": ["erreicht", "nicht_erreicht", "falsche_nummer"]},
        "rueckruf_noetig": {"type": "boolean"},
    },
}


def gateway_process(ok: str, back: str, default: str = "") -> str:
    xml = RUECKRUF.replace(
        '<spiffworkflow:property name="stage" value="feedback" />',
        '<spiffworkflow:property name="formJsonSchemaFilename" value="ergebnis.schema.json" />'
        '<spiffworkflow:property name="stage" value="feedback" />',
    )
    xml = xml.replace(
        '<bpmn:sequenceFlow id="Flow_2" sourceRef="rueckruf_fuehren" targetRef="Event_erledigt" />',
        '<bpmn:sequenceFlow id="Flow_1b" sourceRef="rueckruf_fuehren" targetRef="gw" />'
        + GATEWAY.format(ok=ok, back=back, default=f' default="{default}"' if default else ""),
    )
    return xml.replace("<bpmn:incoming>Flow_2</bpmn:incoming>", "<bpmn:incoming>Flow_ok</bpmn:incoming>")


@pytest.mark.parametrize(
    ("ok", "back", "default", "problem"),
    [
        ("ergebnis == 'erreicht'", "ergebnis in ('nicht_erreicht', 'falsche_nummer')", "", None),
        ("ergebnis == 'erreicht'", "True", "", None),  # a literal True covers the rest
        ("ergebnis == 'erreicht'", "ergebnis != 'erreicht'", "Flow_back", None),  # a default flow
        ("rueckruf_noetig == False", "rueckruf_noetig", "", None),
        (
            "ergebnis == 'erreicht'",
            "ergebnis == 'nicht_erreicht'",
            "",
            "no flow for ergebnis = 'falsche_nummer'",
        ),
        ("ergebnis == 'erreicht'", "len(ergebnis) > 3", "", "cannot be told from 'len(ergebnis) > 3'"),
        ("anruf == 'ok'", "anruf == 'nein'", "", "tests 'anruf', which no form offers as a choice"),
    ],
)
def test_a_gateway_needs_a_default_or_conditions_covering_every_value(
    services: Services, ok: str, back: str, default: str, problem: str | None
) -> None:
    xml = gateway_process(ok, back, default).encode()
    issues = services.definitions.validate(xml, {"ergebnis.schema.json": FORM})
    gateway = [i for i in issues if i.code == "gateway"]
    assert [i.code for i in issues if i.code != "gateway"] == []
    if problem is None:
        assert gateway == []
    else:
        (issue,) = gateway
        assert problem in issue.message and issue.element_id == "gw" and issue.element_name == "Entscheidung?"
        assert "default" in issue.hint


def test_a_name_with_a_line_break_is_kept_whole_in_messages(services: Services) -> None:
    xml = RUECKRUF.replace('name="Rückruf führen (€ Budget prüfen)"', 'name="Rückruf&#10;führen"').replace(
        'value="4bh"', 'value="soon"'
    )
    (issue,) = issues_of(services, xml)
    assert issue.element_name == "Rückruf führen" and "\n" not in issue.message
    assert issue.hint.startswith("select the step and give it an SLA")
