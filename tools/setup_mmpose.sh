#!/usr/bin/env bash
# Placeholder until the extraction issue lands the mmpose extra; see extract/.
set -euo pipefail
echo "mmpose extra: not installed yet"
