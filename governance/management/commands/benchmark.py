import json
import traceback
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from governance.benchmarking import discover


class Command(BaseCommand):
    help = "Run the benchmarks: our figure, a baseline of the same run, and their ratio."

    def add_arguments(self, parser):
        parser.add_argument(
            "--only", action="append", default=[], help="benchmark name (repeatable; prefix match)"
        )
        parser.add_argument("--json", dest="json_path", help="write the figures to this file")
        parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
        parser.add_argument(
            "--scale", type=float, default=1.0, help="shrink (<1) the data sizes for a quick run"
        )

    def handle(self, *args, only, json_path, list, scale, **options):
        registry = discover()
        if list:
            for name in sorted(registry):
                self.stdout.write(name)
            return
        names = sorted(registry)
        if only:
            names = [n for n in names if any(n == o or n.startswith(o) for o in only)]
            if not names:
                raise CommandError(f"no benchmark matches {only}; try --list")
        results, failures = [], []
        for name in names:
            self.stdout.write(self.style.MIGRATE_HEADING(f"== {name}"))
            try:
                figures = registry[name](scale=scale)
            except Exception as exc:  # a broken benchmark must not hide the others' figures
                failures.append(name)
                self.stdout.write(self.style.ERROR(f"{name} failed: {exc}"))
                self.stderr.write(traceback.format_exc())
                continue
            for figure in figures:
                self.stdout.write(
                    f"  {figure.name}: ours {figure.ours:,.4g} {figure.unit} | "
                    f"baseline ({figure.baseline_label}) {figure.baseline:,.4g} {figure.unit} | "
                    f"ratio {figure.ratio:.3f}" + (f" | {figure.notes}" if figure.notes else "")
                )
                results.append({"benchmark": name, **figure.as_dict()})
        if json_path:
            Path(json_path).write_text(
                json.dumps({"results": results, "failed": failures}, indent=2)
            )
            self.stdout.write(f"wrote {json_path}")
        if failures:
            raise CommandError(f"benchmarks failed: {', '.join(failures)}")
