"""The grading journal (resume): ``GRADING/journal.jsonl``, one line per finished notebook."""
import json
import os
from dataclasses import asdict, fields

from .outcome import Outcome

JOURNAL = "journal.jsonl"


def load_journal(grading):
    """{(student, assignment): entry} of the jobs earlier runs finished (the last entry wins; a
    line cut short by an interruption is ignored)."""
    done = {}
    path = os.path.join(grading, JOURNAL)
    if not os.path.exists(path):
        return done
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                entry = json.loads(line)
                done[(entry["student"], entry["assignment"])] = entry
            except (ValueError, KeyError, TypeError):
                continue
    return done


def journal_append(grading, key, outcome):
    line = json.dumps({"student": outcome.student, "assignment": outcome.assignment, "key": key,
                       "outcome": asdict(outcome)}) + "\n"
    with open(os.path.join(grading, JOURNAL), "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def outcome_from(entry):
    known = {f.name for f in fields(Outcome)}
    o = Outcome(**{k: v for k, v in entry["outcome"].items() if k in known})
    o.resumed = True
    return o

