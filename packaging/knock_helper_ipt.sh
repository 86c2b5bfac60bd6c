#!/bin/sh
# knock_helper_ipt.sh: appends, inserts or deletes the iptables rule that lets
# one source address reach one port, never adding it twice. knockd door
# commands call it by this name, with the options and meaning of the helper in
# Debian's knockd 0.8 package; this one is written anew from that helper's
# documented behaviour (see knock_helper_ipt.sh(8) for where it differs).
set -u

name=${0##*/}
default_comment="by knockd"

usage() {
    cat <<EOF
Usage: $name -a|-i|-x -f SRC_IP_ADDR -d DST_PORT [-p|-c|-m|-t|-h|-v]
Options:
-a|--append      Action: append a rule to NetFilter
-i|--insert      Action: insert a rule to NetFilter
-x|--delete      Action: delete a rule from NetFilter
-f|--srcaddr     The source IP address to be used
-d|--dstport     The destination port to be used in the rule
-p|--proto       The protocol that the rule applies to; default: tcp
-c|--chain       The NetFilter chain to apply the change to; default: INPUT
-m|--comment     Override default comment text: '$default_comment' (-mTEXT, --comment=TEXT)
-t|--test        Test run: print the iptables command, change nothing
-h|--help        Print this informational screen and exit
-v|--verbose     Print verbose information about actions
EOF
}

# A usage error: the reason and the usage on standard error, exit 1.
usage_error() {
    echo "$name: error: $1" >&2
    usage >&2
    exit 1
}

# -m takes an optional argument (-mTEXT or --comment=TEXT), as in Debian's helper.
args=$(getopt -o aixf:d:p:c:m::thv \
    -l append,insert,delete,srcaddr:,dstport:,proto:,chain:,comment::,test,help,verbose \
    -n "$name" -- "$@") || usage_error "invalid arguments"
eval set -- "$args"

action="" address="" port="" proto=tcp chain=INPUT comment=$default_comment
dry_run=false verbose=false
while true; do
    case $1 in
        -a | --append) action=-A; shift ;;
        -i | --insert) action=-I; shift ;;
        -x | --delete) action=-D; shift ;;
        -f | --srcaddr) address=$2; shift 2 ;;
        -d | --dstport) port=$2; shift 2 ;;
        -p | --proto) proto=$2; shift 2 ;;
        -c | --chain) chain=$2; shift 2 ;;
        -m | --comment) comment=${2:-$default_comment}; shift 2 ;;
        -t | --test) dry_run=true; shift ;;
        -h | --help) usage; exit 0 ;;
        -v | --verbose) verbose=true; shift ;;
        --) shift; break ;;
        *) usage_error "unexpected option $1" ;;
    esac
done
# Debian's helper ignored words after the options; so do we, but say so.
[ $# -eq 0 ] || echo "$name: warning: ignoring the arguments after the options: $*" >&2
[ -n "$address" ] || usage_error "a source address is required (-f)"
[ -n "$port" ] || usage_error "a destination port is required (-d)"
[ -n "$action" ] || usage_error "an action is required (-a, -i or -x)"

# knockd's %IP% is an IPv6 address for IPv6 knockers; those rules go to ip6tables.
case $address in
    *:*) iptables=ip6tables ;;
    *) iptables=iptables ;;
esac

say() {
    if $verbose; then
        echo "$name: $*"
    fi
}

# The rule, without the action and chain: the same for adding, checking and deleting.
set -- -s "$address" -p "$proto" --dport "$port" -m comment --comment "$comment" -j ACCEPT
# What -t and -v print, quoted as a shell would need it.
rule="-s $address -p $proto --dport $port -m comment --comment '$comment' -j ACCEPT"

if $dry_run; then
    echo "$iptables $action $chain $rule"
    exit 0
fi

command -v "$iptables" >/dev/null 2>&1 || { echo "$name: error: $iptables is not installed" >&2; exit 1; }
if ! "$iptables" -n -L "$chain" >/dev/null 2>&1; then
    echo "$name: error: $chain is not a valid NetFilter chain" >&2
    exit 1
fi

# -C succeeds when the rule exists: the same chain, address, protocol, port and comment.
present() {
    "$iptables" -C "$chain" "$@" >/dev/null 2>&1
}

case $action in
    -A | -I)
        if present "$@"; then
            say "the rule is already in $chain: nothing to do"
            exit 0
        fi
        say "$iptables $action $chain $rule"
        exec "$iptables" "$action" "$chain" "$@"
        ;;
    -D)
        # Copies added by hand or by another helper go too, a bounded number of them.
        deleted=0
        while [ "$deleted" -lt 100 ] && present "$@"; do
            say "$iptables -D $chain $rule"
            "$iptables" -D "$chain" "$@" || exit 1
            deleted=$((deleted + 1))
        done
        [ "$deleted" -gt 0 ] || say "the rule is not in $chain: nothing to do"
        exit 0
        ;;
esac
