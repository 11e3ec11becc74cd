"""`rasa data validate`, failing on any warning except two known false alarms.

Rasa's validator cannot see responses sent from custom actions, nor intents
that only arrive as button/channel payloads (``/pilih{...}``). Those two
warnings are checked here instead: the response must be used in actions/, the
intent must be one of PAYLOAD_INTENTS. Everything else fails the run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD_INTENTS = {"pilih", "kirim_lokasi", "kirim_media", "konfirmasi_selesai"}
UNUSED = re.compile(r"The utterance '(\w+)' is not used in any story or rule")
NO_NLU = re.compile(
    r"The intent '(\w+)' is listed in the domain file, but is not found"
)
WARNING = re.compile(r"UserWarning: (.*)")


def main() -> int:
    proc = subprocess.run(
        [str(ROOT / ".venv/bin/rasa"), "data", "validate", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    output = proc.stdout + proc.stderr
    action_code = "\n".join(p.read_text() for p in (ROOT / "actions").glob("*.py"))
    problems = []
    for line in output.splitlines():
        found = WARNING.search(line)
        if not found:
            continue
        message = found.group(1)
        unused, no_nlu = UNUSED.search(message), NO_NLU.search(message)
        if unused and f'"{unused.group(1)}"' in action_code:
            continue
        if no_nlu and no_nlu.group(1) in PAYLOAD_INTENTS:
            continue
        problems.append(message)
    if proc.returncode != 0:
        problems.append(f"rasa data validate exited with {proc.returncode}")
    for problem in problems:
        print("validate:", problem)
    print(f"rasa data validate: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
