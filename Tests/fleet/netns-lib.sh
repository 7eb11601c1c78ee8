# Network namespaces for the fleet end-to-end test (source this file; needs root and iproute2).
# Nothing is added to the root namespace's network:
#
#   PREFIX-db   lo, bridge br0 at 10.77.0.1/24 (run PostgreSQL here), ports vh1..vhN
#   PREFIX-hI   lo, eth0 at 10.77.0.(10+I)/24, the other end of vhI (I = 1..N, N <= 200)
#
#   fleet_net_up PREFIX N       make them (on failure, call fleet_net_down to clear what was made)
#   fleet_host_cut PREFIX I     take host I's link down from the db side: its packets vanish, so
#                               connects time out and sessions stall with no error, as in a
#                               partition (a session outlives a cut shorter than its timeouts)
#   fleet_host_heal PREFIX I    bring it back
#   fleet_net_down PREFIX N     delete them; safe when partly made and when called twice. A
#                               namespace lives on while a process runs in it: stop those first.
#   fleet_host_addr I           10.77.0.(10+I); $fleet_db_addr is 10.77.0.1
#   fleet_in PREFIX I CMD...    run CMD in host I's namespace (ip netns exec)
#
# Use a PREFIX unique to the run (e.g. cf$$). Only namespace names carry it; interface names are
# fixed, since each is alone in its namespace, and stay within the kernel's 15 bytes.

fleet_db_addr=10.77.0.1

fleet_host_addr() { echo "10.77.0.$((10 + $1))"; }
fleet_host_mac() { printf '02:77:00:00:00:%02x\n' $((10 + $1)); }
fleet_db_mac=02:77:00:00:00:01

fleet_in() { local prefix=$1 host=$2; shift 2; ip netns exec "$prefix-h$host" "$@"; }

# Each step ends in `|| exit` rather than relying on set -e, which bash ignores inside a function
# called from `if` or `||`.
fleet_net_up() (
    prefix=$1 count=$2 db=$1-db
    [[ "$count" =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] && [ "$count" -le 200 ] ||
        { echo "fleet_net_up: N must be 1..200" >&2; exit 64; }
    ip netns add "$db" || exit
    ip -n "$db" link set lo up || exit
    ip -n "$db" link add br0 address "$fleet_db_mac" type bridge || exit
    ip -n "$db" addr add "$fleet_db_addr/24" dev br0 || exit
    ip -n "$db" link set br0 up || exit
    for ((i = 1; i <= count; i++)); do
        ip netns add "$prefix-h$i" || exit
        ip -n "$prefix-h$i" link set lo up || exit
        # Made inside the db namespace with its peer placed straight into the host's, so that
        # neither end ever appears in the root namespace.
        ip -n "$db" link add "vh$i" type veth peer name eth0 address "$(fleet_host_mac "$i")" netns "$prefix-h$i" || exit
        ip -n "$db" link set "vh$i" master br0 up || exit
        ip -n "$prefix-h$i" addr add "$(fleet_host_addr "$i")/24" dev eth0 || exit
        ip -n "$prefix-h$i" link set eth0 up || exit
        # Fixed neighbours: with ARP, a cut turned into "No route to host" after 3 s, and a connect
        # just after a heal could still fail that way while a probe begun during the cut ran out.
        ip -n "$prefix-h$i" neigh replace "$fleet_db_addr" lladdr "$fleet_db_mac" dev eth0 nud permanent || exit
        ip -n "$db" neigh replace "$(fleet_host_addr "$i")" lladdr "$(fleet_host_mac "$i")" dev br0 nud permanent || exit
    done
)

fleet_host_cut() { ip -n "$1-db" link set "vh$2" down; }

fleet_host_heal() { ip -n "$1-db" link set "vh$2" up; }

fleet_net_down() {
    local prefix=$1 count=$2 i name
    for ((i = 1; i <= count; i++)); do
        name=$prefix-h$i
        [ ! -e "/run/netns/$name" ] || ip netns del "$name" || return
    done
    [ ! -e "/run/netns/$prefix-db" ] || ip netns del "$prefix-db"
}
