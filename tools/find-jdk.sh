#!/usr/bin/env bash
# Prints the home of a JDK >= 22 (FFM is final from 22 on). Order: $JAVA_HOME, the java on
# the PATH, then every JDK under /usr/lib/jvm and /opt (newest first). Fails with a clear message.
set -u
version_of() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | head -n1; }
ok() { [ -x "$1/bin/javac" ] || return 1; v=$(version_of "$1"); [ -n "$v" ] && [ "${v%%.*}" -ge 22 ] 2>/dev/null; }
candidates=()
[ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
if command -v javac >/dev/null 2>&1; then candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")"); fi
for d in $(ls -d /usr/lib/jvm/* /opt/*jdk* /opt/java/* 2>/dev/null | sort -rV); do candidates+=("$d"); done
for c in "${candidates[@]}"; do
  if ok "$c"; then echo "$c"; exit 0; fi
done
echo "find-jdk: no JDK >= 22 found (looked at \$JAVA_HOME, the PATH, /usr/lib/jvm, /opt)." >&2
echo "find-jdk: install one, e.g. 'apt-get install temurin-25-jdk' or any JDK 22+, or set JAVA_HOME." >&2
exit 1
