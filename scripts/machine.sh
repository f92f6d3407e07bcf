# Sourced by the bench scripts (not run): `machine_description` prints the one line that
# names the machine a report's figures come from, e.g.
#   2 cores (AMD EPYC), 23Gi RAM, Debian GNU/Linux 12 (bookworm), Linux 6.1.0, rustc 1.95.0
machine_description() {
    printf '%s cores (%s), %s RAM, %s, %s, %s' \
        "$(nproc)" "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" \
        "$(free -h | awk '/^Mem:/ {print $2}')" "$(. /etc/os-release && echo "$PRETTY_NAME")" \
        "$(uname -sr)" "$(rustc --version | cut -d' ' -f1-2)"
}
