#!/usr/bin/env bash
# Renders deploy/krew/batchnotify.yaml (a krew-release-bot template) for the
# archives in DIR, as the bot does at a release: the tag filled in, and each
# platform's `uri` and the `sha256` of its archive
# (DIR/kubectl-batchnotify_<TAG>_<os>_<arch>.tar.gz). Platforms without an
# archive in DIR are left out. Prints the manifest.
#
#   scripts/krew-manifest.sh v0.4.0 target/dist > batchnotify.yaml
#   kubectl krew install --manifest=batchnotify.yaml --archive=target/dist/kubectl-batchnotify_v0.4.0_linux_amd64.tar.gz
set -euo pipefail
tag=${1:?usage: krew-manifest.sh TAG DIR}
dir=${2:?usage: krew-manifest.sh TAG DIR}
cd "$(dirname "$0")/.."
python3 - "$tag" "$dir" deploy/krew/batchnotify.yaml <<'PY'
import hashlib, pathlib, re, sys

tag, folder, template = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
text = template.read_text().replace("{{ .TagName }}", tag)
head, *platforms = re.split(r"(?m)^  - selector:\n", text)
kept = []
for platform in platforms:
    m = re.search(r'\{\{ addURIAndSha "([^"]+)" [^}]*\}\}', platform)
    if not m:
        sys.exit("a platform without addURIAndSha in the template")
    uri = m.group(1)
    archive = folder / uri.rsplit("/", 1)[-1]
    if not archive.exists():
        continue
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    kept.append(platform.replace(m.group(0), f"uri: {uri}\n    sha256: {sha}"))
if not kept:
    sys.exit(f"no archive for any platform in {folder}")
sys.stdout.write(head + "".join("  - selector:\n" + p for p in kept))
PY
