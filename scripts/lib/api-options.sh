# The options every API-load script takes, parsed in one place: --api BIN, --seconds N, --off,
# VAR=VALUE (added to the measured server's environment) and -h/--help (the script's `usage`).
# Source it after setting `root`; it sets the defaults below, which the script may change.

api="$root/target/release/api"
off=false
extra=()

# Takes "$@" at one argument; sets `taken` to how many arguments it used, 0 for one it does not
# know (the script's own, or a mistake).
api_option() {
  taken=1
  case "$1" in
    --api) api="$2"; taken=2 ;;
    --seconds) seconds="$2"; taken=2 ;;
    --off) off=true ;;
    -h | --help) usage; exit 0 ;;
    *=*) extra+=("$1") ;;
    *) taken=0 ;;
  esac
}

unknown_option() {
  echo "unknown argument: $1" >&2
  usage >&2
  exit 2
}
