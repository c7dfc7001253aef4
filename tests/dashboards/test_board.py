"""The loyalty operator board's page, its htmx fragment and its JSON API end to end through
the test client: who may open them, that filters never reach another client's figures, and
that the API answers exactly the numbers the page shows."""

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from crm.roles import Role
from dashboards.services import rollups_refresh
from tests.crm.factories import staff_user
from tests.dashboards.conftest import EXPECTED_MONTHS, client_manager_of, plain_user
from tests.rewards.factories import SchemeFactory

pytestmark = pytest.mark.django_db

PAGE = reverse("dashboards:loyalty-board")
FRAGMENT = reverse("dashboards:loyalty-board-fragment")
API = reverse("dashboards-api:loyalty-board")
API_SECTIONS = [
    "dashboards-api:loyalty-months",
    "dashboards-api:loyalty-terminations",
    "dashboards-api:loyalty-top-offers",
    "dashboards-api:loyalty-schemes",
    "dashboards-api:loyalty-sign-up-units",
]
RANGE = {"month_from": "2026-08", "month_to": "2026-10"}


class BoardTables(HTMLParser):
    """Reads the board's table views: {details id: [(row label, [data-value, ...]), ...]},
    and the key figures by data-testid."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: dict[str, list[tuple[str, list[int]]]] = {}
        self.figures: dict[str, str] = {}
        self._table: str | None = None
        self._row: list | None = None
        self._in_row_header = False
        self._figure: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "details" and "chart-table" in (attributes.get("class") or ""):
            self._table = attributes["id"]
            self.tables[self._table] = []
        elif self._table and tag == "tr" and self._row is None:
            self._row = ["", []]
        elif self._row is not None and tag == "th" and attributes.get("scope") == "row":
            self._in_row_header = True
        elif self._row is not None and tag == "td" and "data-value" in attributes:
            self._row[1].append(int(attributes["data-value"]))
        elif "data-testid" in attributes:
            self._figure = attributes["data-testid"]
            self.figures[self._figure] = ""

    def handle_endtag(self, tag):
        if tag == "th":
            self._in_row_header = False
        elif tag == "tr" and self._row is not None:
            if self._row[1] or self._row[0]:
                self.tables[self._table].append((self._row[0].strip(), self._row[1]))
            self._row = None
        elif tag == "details":
            self._table = None
        elif self._figure and tag in ("dd", "p"):
            self._figure = None

    def handle_data(self, data):
        if self._in_row_header and self._row is not None:
            self._row[0] += data
        elif self._figure:
            self.figures[self._figure] += data


@pytest.fixture
def board_ready(ledger):
    rollups_refresh()
    return ledger


# ---------------------------------------------------------------- who may open the board


def test_someone_signed_out_is_sent_to_the_staff_sign_in(client):
    response = client.get(PAGE)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('staff-login')}?next={PAGE}"
    assert client.get(API).status_code == 403


def test_a_signed_out_poll_asks_htmx_to_load_the_sign_in_page(client):
    response = client.get(FRAGMENT, headers={"HX-Request": "true"})

    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("staff-login")


def test_staff_without_the_second_factor_are_not_let_in(client, operator):
    client.force_login(operator)  # password only: no verified device in the session

    assert client.get(PAGE).status_code == 302
    assert client.get(API).status_code == 403


@pytest.mark.parametrize("role", [Role.HELPDESK, Role.VERIFIER, Role.CHECKER])
def test_staff_of_other_roles_get_403(sign_in, role):
    client = sign_in(staff_user(role))

    assert client.get(PAGE).status_code == 403
    assert client.get(FRAGMENT).status_code == 403
    assert client.get(reverse("dashboards:home")).status_code == 403
    assert client.get(API).status_code == 403


def test_a_signed_in_user_who_is_not_staff_gets_403(sign_in):
    client = sign_in(plain_user())

    assert client.get(PAGE).status_code == 403
    assert client.get(API).status_code == 403


def test_a_channel_partner_has_the_dashboards_but_not_the_loyalty_board(sign_in, board_ready):
    client = sign_in(staff_user(Role.CHANNEL_PARTNER))

    home = client.get(reverse("dashboards:home"))
    assert home.status_code == 200
    assert "Loyalty operator board" not in home.text
    assert client.get(PAGE).status_code == 403
    for name in API_SECTIONS:
        assert client.get(reverse(name)).status_code == 403


def test_the_dashboards_home_links_the_board_for_operators(sign_in, operator):
    response = sign_in(operator).get(reverse("dashboards:home"))

    assert response.status_code == 200
    assert f'href="{PAGE}"' in response.text


# ---------------------------------------------------------------- scoping through filters


def test_a_client_manager_sees_only_their_clients_schemes(sign_in, board_ready):
    client = sign_in(client_manager_of(board_ready.client_a))

    response = client.get(API, RANGE)

    assert response.status_code == 200
    assert [scheme["scheme_id"] for scheme in response.json()["schemes"]] == [
        board_ready.scheme_a.pk
    ]
    assert response.json()["liability_minor"] == 85
    page = client.get(PAGE, RANGE)
    assert board_ready.scheme_b.name not in page.text


def test_a_client_manager_cannot_reach_another_clients_scheme_by_its_id(sign_in, board_ready):
    client = sign_in(client_manager_of(board_ready.client_a))
    other = {**RANGE, "scheme": board_ready.scheme_b.pk}

    page = client.get(PAGE, other)
    fragment = client.get(FRAGMENT, other)
    api = client.get(API, other)

    assert page.status_code == fragment.status_code == api.status_code == 400
    assert api.json()["errors"]["scheme"] == [
        "Select a valid choice. That choice is not one of the available choices."
    ]
    for response in (page, fragment):
        assert "chart-card" not in response.text
        assert (
            board_ready.scheme_b.name
            not in response.text.split("<select", 1)[-1].split("</select>")[0]
        )
    for name in API_SECTIONS:
        assert client.get(reverse(name), other).status_code == 400


def test_a_nonexistent_scheme_is_refused_the_same_way(sign_in, board_ready):
    client = sign_in(client_manager_of(board_ready.client_a))

    response = client.get(API, {**RANGE, "scheme": 999_999_999})

    assert response.status_code == 400
    assert "scheme" in response.json()["errors"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"month_from": "2026-10", "month_to": "2026-08"}, "__all__"),
        ({"month_from": "2021-01", "month_to": "2026-10"}, "__all__"),
        ({"month_from": "August"}, "month_from"),
    ],
)
def test_filters_that_make_no_sense_are_refused(sign_in, operator, query, field):
    response = sign_in(operator).get(API, query)

    assert response.status_code == 400
    assert field in response.json()["errors"]


# ---------------------------------------------------------------- the numbers


def test_the_api_answers_the_hand_computed_figures(sign_in, operator, board_ready):
    client = sign_in(operator)

    body = client.get(API, {**RANGE, "scheme": board_ready.scheme_a.pk}).json()

    assert body["filters"] == {
        "scheme": board_ready.scheme_a.pk,
        "month_from": "2026-08",
        "month_to": "2026-10",
    }
    assert body["unit"] == {"label": "points", "exponent": 0}
    assert {row.pop("month"): row for row in body["months"]} == {
        f"{month:%Y-%m}": figures for month, figures in EXPECTED_MONTHS.items()
    }
    assert body["computed_at"] is not None
    assert body["participants_effective"] == 2
    assert body["top_offers_month"] == "2026-10"
    assert [(offer["offer_name"], offer["awards"]) for offer in body["top_offers"]] == [
        ("Ten percent back", 2),
        ("Five for a visit", 2),
    ]


def test_each_api_section_matches_the_whole_board(sign_in, operator, board_ready):
    client = sign_in(operator)
    whole = client.get(API, RANGE).json()

    for name in API_SECTIONS:
        section = client.get(reverse(name), RANGE).json()
        for key, value in section.items():
            assert whole[key] == value, (name, key)


def test_the_api_returns_the_numbers_the_page_shows(sign_in, operator, board_ready):
    client = sign_in(operator)
    query = {**RANGE, "scheme": board_ready.scheme_a.pk}

    page = client.get(PAGE, query)
    body = client.get(API, query).json()

    assert page.status_code == 200
    tables = BoardTables(page.text)
    months = body["months"]
    assert [values for _label, values in tables.tables["table-participants"]] == [
        [row["participants"], row["sign_ups"], row["terminations"]] for row in months
    ]
    assert [values for _label, values in tables.tables["table-sign-ups"]] == [
        [row["sign_ups"]] for row in months
    ]
    assert [values for _label, values in tables.tables["table-flows"]] == [
        [row["awarded_minor"], row["spent_minor"], row["expired_minor"]] for row in months
    ]
    assert [values for _label, values in tables.tables["table-not-spent"]] == [
        [row["awarded_not_spent_minor"], row["liability_minor"]] for row in months
    ]
    reasons = [reason["value"] for reason in body["termination_reasons"]]
    assert [values for _label, values in tables.tables["table-terminations"]] == [
        [row["by_reason"][reason] for reason in reasons] for row in body["terminations"]
    ]
    assert tables.tables["table-top-offers"] == [
        (offer["offer_name"], [offer["awards"]]) for offer in body["top_offers"]
    ]
    assert tables.tables["table-schemes"] == [
        (scheme["name"], [scheme["participants_effective"], scheme["participants_terminated"]])
        for scheme in body["schemes"]
    ]
    assert tables.tables["table-liability-1"] == [
        (scheme["name"], [scheme["liability_minor"]]) for scheme in body["schemes"]
    ]
    assert tables.tables["table-units"] == [
        (unit["merchant_name"] or "No unit", [unit["effective"], unit["terminated"]])
        for unit in body["sign_up_units"]
    ]
    assert tables.figures["kpi-participants"].strip() == str(body["participants_effective"])
    assert tables.figures["kpi-liability"].strip() == f"{body['liability_minor']} points"
    assert tables.figures["kpi-not-spent"].strip() == f"{body['awarded_not_spent_minor']} points"


def test_the_fragment_is_the_board_alone_and_polls(sign_in, operator, board_ready):
    client = sign_in(operator)

    response = client.get(FRAGMENT, RANGE, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="loyalty-board"')
    assert 'hx-trigger="every 10s"' in response.text
    assert "<html" not in response.text
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_page_shows_when_the_figures_were_computed(sign_in, operator, board_ready):
    page = sign_in(operator).get(PAGE, RANGE)

    assert "Figures computed at" in BoardTables(page.text).figures["computed-at"]


def test_before_the_first_run_the_page_says_so(sign_in, operator, ledger):
    page = sign_in(operator).get(PAGE, RANGE)

    assert "have not been computed yet" in page.text


def test_schemes_in_different_units_do_not_add_up_their_amounts(sign_in, operator, board_ready):
    SchemeFactory(client=board_ready.client_a, unit="money", currency="SEK")
    rollups_refresh()
    client = sign_in(operator)

    body = client.get(API, RANGE).json()
    page = client.get(PAGE, RANGE)

    assert body["unit"] is None
    assert body["liability_minor"] is None
    assert {row["awarded_minor"] for row in body["months"]} == {None}
    assert [row["awards"] for row in body["months"]] == [3, 1, 2]  # counts still add up
    assert "count in different units" in page.text
    assert "Outstanding liability per scheme (SEK)" in page.text
    assert "Outstanding liability per scheme (points)" in page.text


def test_the_openapi_schema_documents_the_dashboards_api(client):
    schema = client.get(reverse("schema"), {"format": "json"}).json()

    for path in (
        "/api/v1/dashboards/loyalty/",
        "/api/v1/dashboards/loyalty/months/",
        "/api/v1/dashboards/loyalty/terminations/",
        "/api/v1/dashboards/loyalty/top-offers/",
        "/api/v1/dashboards/loyalty/schemes/",
        "/api/v1/dashboards/loyalty/sign-up-units/",
    ):
        operation = schema["paths"][path]["get"]
        assert {parameter["name"] for parameter in operation["parameters"]} >= {
            "scheme",
            "month_from",
            "month_to",
        }
        assert set(operation["responses"]) == {"200", "400", "403"}
    assert "MonthFigures" in schema["components"]["schemas"]


def test_an_amount_in_money_is_shown_in_major_units(sign_in, operator, db):
    scheme = SchemeFactory(unit="money", currency="SEK")
    client = sign_in(operator)
    rollups_refresh()

    page = client.get(PAGE, {**RANGE, "scheme": scheme.pk})

    assert page.status_code == 200
    assert "0.00 SEK" in page.text
    assert 'data-chart-scale="100"' in page.text
