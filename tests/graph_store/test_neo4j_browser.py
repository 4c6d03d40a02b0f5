"""The Neo4j Browser links of the analyst page: quoting of ids in the Cypher shown, and the Browser's address."""

from __future__ import annotations

from graphrag import Settings
from graphrag.graph_store.neo4j_browser import browser_url, cypher_string, neighbourhood_cypher, paths_cypher


def test_ids_are_quoted_so_they_cannot_end_the_string():
    assert cypher_string("plain") == "'plain'"
    assert cypher_string("a'b\\c\nd") == "'a\\'b\\\\c\\nd'"
    hostile = "x'}) DETACH DELETE e //"
    statement = neighbourhood_cypher(hostile, 2, 50)
    assert "{id: 'x\\'}) DETACH DELETE e //'}" in statement
    assert statement.endswith("RETURN p LIMIT 50") and "[*1..2]" in statement
    assert "allShortestPaths" in paths_cypher("a", "b", 3) and "[*..3]" in paths_cypher("a", "b", 3)


def test_browser_address_only_on_neo4j(tmp_path):
    assert browser_url(Settings.load(data_dir=tmp_path)) is None
    derived = Settings.load(
        data_dir=tmp_path, graph_backend="neo4j", neo4j_uri="bolt://10.1.2.3:7687", neo4j_http_port=17474
    )
    assert browser_url(derived) == "http://10.1.2.3:17474/browser/"
    named = Settings.load(data_dir=tmp_path, graph_backend="neo4j", neo4j_browser_url="https://graph.example/browser/")
    assert browser_url(named) == "https://graph.example/browser/"
