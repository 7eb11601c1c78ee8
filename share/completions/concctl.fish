function __concctl_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __concctl_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __concctl_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __concctl_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __concctl_parse_tokens -S
    set -l unparsed_tokens (__concctl_tokens -pc)
    switch $unparsed_tokens[1]
    case 'concctl'
        __concctl_parse_subcommand 0 'socket=' 'h/help'
        switch $unparsed_tokens[1]
        case 'submit'
            __concctl_parse_subcommand -r 4 'socket=' 'shell' 'pool=' 'count=' 'timeout=' 'retries=' 'restart-wait=' 'durable' 'detach' 'attempts=' 'json' 'h/help'
        case 'job'
            __concctl_parse_subcommand 1 'socket=' 'json' 'h/help'
        case 'wait'
            __concctl_parse_subcommand 1 'socket=' 'json' 'h/help'
        case 'cancel'
            __concctl_parse_subcommand 1 'socket=' 'json' 'h/help'
        case 'jobs'
            __concctl_parse_subcommand 0 'socket=' 'state=' 'limit=' 'json' 'h/help'
        case 'status'
            __concctl_parse_subcommand 0 'socket=' 'json' 'h/help'
        case 'top'
            __concctl_parse_subcommand 0 'socket=' 'interval=' 'h/help'
        case 'compare'
            __concctl_parse_subcommand 2 'socket=' 'count=' 'timeout=' 'json' 'plot=' 'h/help'
        case 'metrics'
            __concctl_parse_subcommand 0 'socket=' 'h/help'
        case 'ping'
            __concctl_parse_subcommand 0 'socket=' 'h/help'
        case 'bench'
            __concctl_parse_subcommand 0 'concd=' 'rounds=' 'pipelined=' 'iterations=' 'json' 'h/help'
        case 'resize'
            __concctl_parse_subcommand 2 'socket=' 'json' 'h/help'
        case 'reload'
            __concctl_parse_subcommand 0 'socket=' 'json' 'h/help'
        case 'shutdown'
            __concctl_parse_subcommand 0 'socket=' 'json' 'h/help'
        case 'kill-worker'
            __concctl_parse_subcommand 1 'socket=' 'json' 'h/help'
        case 'help'
            __concctl_parse_subcommand -r 1 
        end
    end
end

function __concctl_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __concctl_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __concctl_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __concctl_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__concctl_tokens -p)
    if test -z "$(__concctl_tokens -t)"
        set -l index (count (__concctl_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'concctl' -f
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl" socket' -l 'socket' -d 'The control socket (default: $CONCD_SOCKET, else /run/concd/concd.sock).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_positional "concctl" -eq 1' -fa 'submit' -d 'Run a workload or call a function on a pool and print its result, pool, worker and wall time.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_positional "concctl" -eq 1' -fa 'job' -d 'Show a durable job: its state, pool, attempts, host, times, result and every attempt\'s error.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_positional "concctl" -eq 1' -fa 'wait' -d 'Wait for a durable job to finish and print its result as submit does.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_positional "concctl" -eq 1' -fa 'cancel' -d 'Cancel a durable job: a queued one never starts, a running one is stopped where it runs.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_positional "concctl" -eq 1' -fa 'jobs' -d 'List durable jobs, newest first: id, state, pool, kind, attempt, host, age.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_positional "concctl" -eq 1' -fa 'status' -d 'Show the daemon\'s pools: size, busy, idle, queued, completed, failed.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_positional "concctl" -eq 1' -fa 'top' -d 'A live view of the pools: size, busy, idle, queued, tasks/s, p50/p99, failures.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_positional "concctl" -eq 1' -fa 'compare' -d 'Run one workload on every pool that can run it and compare them.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_positional "concctl" -eq 1' -fa 'metrics' -d 'Print the daemon\'s metrics in the Prometheus text format.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_positional "concctl" -eq 1' -fa 'ping' -d 'Round-trip a no-op through the daemon.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_positional "concctl" -eq 1' -fa 'bench' -d 'Measure concd on this machine, as ratios to floors measured in the same run.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_positional "concctl" -eq 1' -fa 'resize' -d 'Change a pool\'s size now (admin: root or the daemon\'s user).'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_positional "concctl" -eq 1' -fa 'reload' -d 'Re-read the configuration file, as systemctl reload does (admin).'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_positional "concctl" -eq 1' -fa 'shutdown' -d 'Stop the daemon gracefully: no new tasks, queued and running ones finish (admin).'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_positional "concctl" -eq 1' -fa 'kill-worker' -d 'SIGKILL one process worker; the pool replaces it (admin).'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_positional "concctl" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl submit" socket' -l 'socket' -d 'The control socket (default: $CONCD_SOCKET, else /run/concd/concd.sock).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl submit" shell' -l 'shell' -d 'For exec: run one command line through /bin/sh -c instead of a program and its arguments.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl submit" pool' -l 'pool' -d 'The pool: process, thread, async or a pool the configuration names (default: the workload\'s natural pool).' -rfka 'process thread async'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl submit" count' -l 'count' -d 'Submit this many copies at once and wait for all.' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl submit" timeout' -l 'timeout' -d 'Give up on a task after this many seconds.' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl submit" retries' -l 'retries' -d 'Run a process-pool task again, up to this many times, when its worker dies under it (0...10).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl submit" restart-wait' -l 'restart-wait' -d 'Seconds to keep resending tasks the daemon refused as shutting_down (0 = never resend).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl submit" durable' -l 'durable' -d 'Store it in the fleet\'s queue as a durable job that any host may run (the daemon needs a queue: section).'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl submit" detach' -l 'detach' -d 'With --durable: print the job\'s id as soon as it is stored instead of waiting for its result.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl submit" attempts' -l 'attempts' -d 'With --durable: how many times the job may run in all (1...100; default: the queue\'s).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl submit" json' -l 'json' -d 'Print the result as JSON (fields in docs/protocol.md).'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl submit" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl job" socket' -l 'socket' -d 'The control socket (default: $CONCD_SOCKET, else /run/concd/concd.sock).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl job" json' -l 'json' -d 'Print the job as JSON (fields in docs/protocol.md).'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl job" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl wait" socket' -l 'socket' -d 'The control socket (default: $CONCD_SOCKET, else /run/concd/concd.sock).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl wait" json' -l 'json' -d 'Print the daemon\'s reply as JSON, as submit --json does.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl wait" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl cancel" socket' -l 'socket' -d 'The control socket (default: $CONCD_SOCKET, else /run/concd/concd.sock).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl cancel" json' -l 'json' -d 'Print the daemon\'s reply (with the job as it is after) as JSON.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl cancel" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl jobs" socket' -l 'socket' -d 'The control socket (default: $CONCD_SOCKET, else /run/concd/concd.sock).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl jobs" state' -l 'state' -d 'Only jobs in this state.' -rfka 'queued running succeeded failed cancelled'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl jobs" limit' -l 'limit' -d 'The most jobs to list (1...10000).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl jobs" json' -l 'json' -d 'Print the jobs as a JSON array (fields in docs/protocol.md).'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl jobs" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl status" socket' -l 'socket' -d 'The control socket (default: $CONCD_SOCKET, else /run/concd/concd.sock).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl status" json' -l 'json' -d 'Print the status as JSON (fields in docs/protocol.md).'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl status" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl top" socket' -l 'socket' -d 'The control socket (default: $CONCD_SOCKET, else /run/concd/concd.sock).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl top" interval' -l 'interval' -d 'Seconds between refreshes, 0.1...60.' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl top" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl compare" socket' -l 'socket' -d 'The control socket (default: $CONCD_SOCKET, else /run/concd/concd.sock).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_positional "concctl compare" -eq 1' -fka 'cpu io async get sleep noop'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl compare" count' -l 'count' -d 'Copies to run at once on each pool, 1...100000.' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl compare" timeout' -l 'timeout' -d 'Give up on a task after this many seconds.' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl compare" json' -l 'json' -d 'Print the comparison as JSON.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl compare" plot' -l 'plot' -d 'Also draw the comparison as an SVG bar chart into this file.' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl compare" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl metrics" socket' -l 'socket' -d 'The control socket (default: $CONCD_SOCKET, else /run/concd/concd.sock).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl metrics" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl ping" socket' -l 'socket' -d 'The control socket (default: $CONCD_SOCKET, else /run/concd/concd.sock).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl ping" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl bench" concd' -l 'concd' -d 'The concd binary to start (default: the one beside concctl).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl bench" rounds' -l 'rounds' -d 'Sequential round trips measured per pool (and for the floor).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl bench" pipelined' -l 'pipelined' -d 'No-op tasks per pipelined throughput run.' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl bench" iterations' -l 'iterations' -d 'Iterations of the CPU loop.' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl bench" json' -l 'json' -d 'Print the results as JSON.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl bench" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl resize" socket' -l 'socket' -d 'The control socket (default: $CONCD_SOCKET, else /run/concd/concd.sock).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_positional "concctl resize" -eq 1' -fka 'process thread async'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl resize" json' -l 'json' -d 'Print the daemon\'s reply as JSON.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl resize" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl reload" socket' -l 'socket' -d 'The control socket (default: $CONCD_SOCKET, else /run/concd/concd.sock).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl reload" json' -l 'json' -d 'Print the daemon\'s reply as JSON.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl reload" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl shutdown" socket' -l 'socket' -d 'The control socket (default: $CONCD_SOCKET, else /run/concd/concd.sock).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl shutdown" json' -l 'json' -d 'Print the daemon\'s reply as JSON.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl shutdown" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl kill-worker" socket' -l 'socket' -d 'The control socket (default: $CONCD_SOCKET, else /run/concd/concd.sock).' -rfka ''
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl kill-worker" json' -l 'json' -d 'Print the daemon\'s reply as JSON.'
complete -c 'concctl' -n '__concctl_should_offer_completions_for_flags_or_options "concctl kill-worker" h help' -s 'h' -l 'help' -d 'Show help information.'
