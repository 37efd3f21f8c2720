#!/usr/bin/env python3
"""Writes the inputs/outputs tables of every terraform/modules/*/README.md from variables.tf and
outputs.tf (between the BEGIN/END markers), like terraform-docs. `--check` fails when a README is
stale, so scripts/test.sh keeps them true."""
import pathlib
import re
import sys

BEGIN, END = "<!-- BEGIN GENERATED -->", "<!-- END GENERATED -->"
BLOCK = re.compile(r'^(variable|output) "([^"]+)" \{\n(.*?)^\}', re.S | re.M)


def field(body, name):
    m = re.search(rf'^\s+{name}\s+=\s+(.+)$', body, re.M)
    return m.group(1).strip() if m else None


def table(module):
    rows = ["## Inputs", "", "| Name | Description | Type | Default | Required |", "|---|---|---|---|:---:|"]
    for kind, name, body in BLOCK.findall((module / "variables.tf").read_text()):
        desc = (field(body, "description") or '""').strip('"').replace("|", "\\|")
        typ = (field(body, "type") or "any").replace("|", "\\|")
        default = field(body, "default")
        rows.append(f"| `{name}` | {desc} | `{typ}` | {'`' + default + '`' if default else 'n/a'} | {'no' if default else 'yes'} |")
    rows += ["", "## Outputs", "", "| Name | Description |", "|---|---|"]
    for kind, name, body in BLOCK.findall((module / "outputs.tf").read_text()):
        desc = (field(body, "description") or '""').strip('"').replace("|", "\\|")
        rows.append(f"| `{name}` | {desc} |")
    return "\n".join(rows)


def main():
    check = "--check" in sys.argv
    stale = []
    for module in sorted(pathlib.Path(__file__).resolve().parent.parent.glob("terraform/modules/*")):
        readme = module / "README.md"
        text = readme.read_text() if readme.exists() else f"# {module.name}\n\n{BEGIN}\n{END}\n"
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        new = f"{head}{BEGIN}\n{table(module)}\n{END}{tail}"
        if new != text:
            stale.append(str(readme))
            if not check:
                readme.write_text(new)
    if check and stale:
        print("stale module READMEs (run scripts/terraform-docs.py):", *stale, sep="\n  ")
        sys.exit(1)


main()
