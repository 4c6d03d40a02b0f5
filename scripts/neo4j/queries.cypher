// Ready-made queries for Neo4j Browser (http://127.0.0.1:7474/browser/). Set the parameters first, e.g.
//   :param name => 'Helix Dynamics'
//   :param a => 'Anika Sorensen'
//   :param b => 'Helix Dynamics'
// Each query starts with a "// name:" line; tests/test_neo4j.py runs every one of them against the demo graph.

// name: neighbourhood of an entity ($name)
MATCH (e:Entity) WHERE toLower(e.name) = toLower($name)
MATCH p = (e)-[:!MENTIONS&!CONTRIBUTES&!HAS_CHUNK&!HAS_MEMBER]-(:Entity)
RETURN p LIMIT 100;

// name: how are two entities connected ($a, $b)
MATCH (a:Entity) WHERE toLower(a.name) = toLower($a)
MATCH (b:Entity) WHERE toLower(b.name) = toLower($b)
MATCH p = SHORTEST 5 (a)-[:!MENTIONS&!CONTRIBUTES&!HAS_CHUNK&!HAS_MEMBER]-{1,4}(b)
RETURN p;

// name: where is a fact from ($a, $b): the relation, its sentence, document and chunk
MATCH (a:Entity)-[r:!MENTIONS&!CONTRIBUTES&!HAS_CHUNK&!HAS_MEMBER]-(b:Entity)
WHERE toLower(a.name) = toLower($a) AND toLower(b.name) = toLower($b)
UNWIND r.evidence AS chunk_id
MATCH (d:Document)-[:HAS_CHUNK]->(c:Chunk {id: chunk_id})
RETURN startNode(r).name AS subject, type(r) AS relation, endNode(r).name AS object, r.confidence AS confidence,
       r.sentence AS sentence, d.title AS document, c.start AS start, c.end AS end;

// name: documents that mention an entity ($name)
MATCH (d:Document)-[:HAS_CHUNK]->(c:Chunk)-[:MENTIONS]->(e:Entity)
WHERE toLower(e.name) = toLower($name)
RETURN d, c, e LIMIT 50;

// name: most connected entities
MATCH (e:Entity)-[r:!MENTIONS&!CONTRIBUTES&!HAS_CHUNK&!HAS_MEMBER]-(:Entity)
RETURN e.name AS entity, e.type AS type, count(r) AS relations ORDER BY relations DESC LIMIT 25;

// name: communities (Louvain over the relations, recomputed after changes: when next read, or as the writing process closes) with their members
MATCH (c:Community)-[m:HAS_MEMBER]->(e:Entity)
RETURN c, m, e ORDER BY c.rank LIMIT 300;
