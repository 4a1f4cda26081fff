"""Parses mlci's provenance with in-toto's own libraries: the oracle of
`mlci model provenance`.

Usage: provenance_check.py STATEMENT.json LINK.json

The Statement is parsed strictly (unknown fields refused) into in-toto's
Statement v1 message and validated, and its predicate into SLSA's
provenance v1 message (in-toto-attestation); the link is read and
validated by the `in-toto` package's Link model. Prints JSON {"subject":
[[name, {alg: hex}]], "dependencies": [[name or uri, {alg: hex}]],
"link": {"name", "materials": {path: {alg: hex}}, "products": {...}}}.
"""
import json
import sys

from google.protobuf import json_format
from in_toto.models.link import Link
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement

with open(sys.argv[1]) as f:
    doc = json.load(f)
pb = json_format.ParseDict(doc, statement_pb2.Statement())
Statement.copy_from_pb(pb).validate()
prov = json_format.ParseDict(doc["predicate"], provenance_pb2.Provenance())
assert doc["predicateType"] == "https://slsa.dev/provenance/v1", doc["predicateType"]

with open(sys.argv[2]) as f:
    link_doc = json.load(f)
link = Link.read(link_doc["signed"])
link.validate()

print(
    json.dumps(
        {
            "subject": [[s.name, dict(s.digest)] for s in pb.subject],
            "dependencies": [
                [d.name or d.uri, dict(d.digest)]
                for d in prov.build_definition.resolved_dependencies
            ],
            "link": {
                "name": link.name,
                "materials": link.materials,
                "products": link.products,
            },
        }
    )
)
