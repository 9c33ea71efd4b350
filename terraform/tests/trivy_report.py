"""Summarises `trivy config --format json` from standard input: each failed check,
then a count; exits 1 if any check failed. Usage: trivy ... | python trivy_report.py TARGET"""

import json
import sys

target = sys.argv[1]
results = json.load(sys.stdin).get("Results", [])
passed = sum(result.get("MisconfSummary", {}).get("Successes", 0) for result in results)
failed = [
    (result["Target"], finding)
    for result in results
    for finding in result.get("Misconfigurations") or []
    if finding["Status"] == "FAIL"
]
for place, finding in failed:
    line = finding["CauseMetadata"].get("StartLine")
    print(f"  {finding['Severity']} {finding['ID']} {place}:{line}: {finding['Title']}")
print(f"trivy {target}: {passed} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
