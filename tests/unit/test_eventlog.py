"""Event logs: RetailRocket, CSV and JSONL read into time-ordered events with a catalog."""

from __future__ import annotations

import orjson
import pytest

from streamrec.streams.tools.eventlog import EventLogError, detect_format, load_event_log

RR = """timestamp,visitorid,event,itemid,transactionid
1433221332117,257597,view,355908,
1433224214164,992329,view,248676,
1433221999827,111016,addtocart,318965,
1433223236124,257597,transaction,355908,4000
1433221955914,483717,view,253185,
"""


def test_retailrocket_mapping_order_and_catalog(tmp_path):
    p = tmp_path / "events.csv"
    p.write_text(RR)
    assert detect_format(p) == "retailrocket"
    log = load_event_log(p)
    assert [k for k, _ in log.events] == ["view", "view", "click", "purchase", "view"]
    ts = [e["ts"] for _, e in log.events]
    assert ts == sorted(ts) and ts[0] == pytest.approx(1433221332.117)
    assert {c["item_id"] for c in log.catalog} == {"355908", "248676", "318965", "253185"}
    assert len({e["event_id"] for _, e in log.events}) == 5
    assert "addtocart = click" in log.mapping
    assert load_event_log(p, users=2).users == 2        # the first two visitors in time


def test_csv_and_jsonl_give_the_same_events(tmp_path):
    rows = [{"user_id": "u1", "item_id": "a", "ts": 3.0, "type": "view"},
            {"user_id": "u2", "item_id": "b", "ts": 1.0, "type": "click", "price": 2.5},
            {"user_id": "u1", "item_id": "b", "ts": 2.0, "type": "purchase", "event_id": "x"}]
    j = tmp_path / "log.jsonl"
    j.write_bytes(b"\n".join(orjson.dumps(r) for r in rows))
    c = tmp_path / "log.csv"
    c.write_text("user_id,item_id,ts,type,event_id,price\n" + "\n".join(
        f"{r['user_id']},{r['item_id']},{r['ts']},{r['type']},{r.get('event_id', '')},"
        f"{r.get('price', '')}" for r in rows))
    a, b = load_event_log(j), load_event_log(c)
    assert [k for k, _ in a.events] == ["click", "purchase", "view"]    # by time
    strip = [{k: v for k, v in e.items() if k != "event_id"} for _, e in a.events]
    assert strip == [{k: v for k, v in e.items() if k != "event_id"} for _, e in b.events]
    assert a.events[0][1]["price"] == 2.5 and a.events[1][1]["event_id"] == "x"


def test_bad_logs_name_the_line_and_the_fix(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("user_id,item_id,ts,type\nu1,a,1.0,like\n")
    with pytest.raises(EventLogError, match=r"bad.csv:2: .*type 'like'"):
        load_event_log(p)
    q = tmp_path / "bad.jsonl"
    q.write_text('{"user_id": "u", "item_id": "a", "ts": 1}\n')
    with pytest.raises(EventLogError, match=r"bad.jsonl:1: .*missing field 'type'"):
        load_event_log(q)
    q.write_text('{"user_id": "u", "item_id": "a", "ts": 1, "type": "view"}\n{oops\n')
    with pytest.raises(EventLogError, match=r"bad.jsonl:2: malformed JSON"):
        load_event_log(q)
    with pytest.raises(EventLogError, match="no such file"):
        load_event_log(tmp_path / "missing.csv")
    with pytest.raises(EventLogError, match="--format"):
        load_event_log(p, fmt="parquet")


def test_duplicate_event_ids_are_dropped(tmp_path):
    p = tmp_path / "dup.jsonl"
    p.write_text('{"event_id": "e", "user_id": "u", "item_id": "a", "ts": 1, "type": "view"}\n'
                 '{"event_id": "e", "user_id": "u", "item_id": "a", "ts": 1, "type": "view"}\n')
    assert len(load_event_log(p).events) == 1



OR = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
569901,23256,CHILDRENS CUTLERY SPACEBOY ,2,2011-10-06 16:20:00,4.15,12923.0,United Kingdom
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527.0,United Kingdom
C536383,35004C,SET OF 3 COLOURED  FLYING DUCKS,-1,2010-12-01 09:49:00,4.65,15311.0,United Kingdom
536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,,United Kingdom
569902,85123A,WHITE HANGING HEART T-LIGHT HOLDER,2,2011-10-06 16:21:00,2.95,12923.0,United Kingdom
"""


def test_online_retail_purchases_at_their_price_with_a_derived_catalog(tmp_path):
    p = tmp_path / "OnlineRetail_sample.csv"
    p.write_text(OR)
    assert detect_format(p) == "online-retail" and detect_format(tmp_path) == "online-retail"
    log = load_event_log(p)
    # no cancellations, no lines without a customer, no non-product codes (D)
    assert [(k, e["user_id"], e["item_id"], e["price"], e["quantity"]) for k, e in log.events] \
        == [("purchase", "17850", "85123A", 2.55, 6), ("purchase", "12923", "23256", 4.15, 2),
            ("purchase", "12923", "85123A", 2.95, 2)]
    cat = {c["item_id"]: c for c in log.catalog}
    assert set(cat) == {"23256", "85123A", "35004C", "22633"}
    assert cat["85123A"]["price"] == 2.95 and cat["85123A"]["category"] == "HOLDER"
    assert cat["23256"]["title"] == "CHILDRENS CUTLERY SPACEBOY"
    assert "derived" in log.mapping and "simulated" in log.mapping
