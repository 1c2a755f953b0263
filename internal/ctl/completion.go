package ctl

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/switchd/switchd/control/api"
)

// completionTimeout bounds the question for service names: a shell waits
// on it at every TAB.
const completionTimeout = time.Second

// commandFlags are the flags each command takes besides the global ones.
var commandFlags = map[string][]string{
	"flip":     {"--expect", "--expect-generation", "--force", "--reason", "--wait-stable"},
	"set":      {"--expect", "--expect-generation", "--force", "--reason", "--wait-stable"},
	"rollback": {"--expect", "--expect-generation", "--force", "--reason", "--wait-stable"},
}

var globalFlagNames = []string{"--addr", "--token", "--cacert", "--cert", "--key", "--json", "--timeout"}

// commandNames is every command, sorted, help included.
func commandNames() []string {
	names := []string{"help"}
	for c := range commands {
		names = append(names, c)
	}
	sort.Strings(names)
	return names
}

// completion prints a completion script, or, for "services" (what the
// scripts call), the configured services one a line.
func (r *runner) completion(ctx context.Context) error {
	switch r.inv.args[0] {
	case "services":
		ctx, cancel := context.WithTimeout(ctx, completionTimeout)
		defer cancel()
		var list api.ServiceList
		if err := r.get(ctx, "/v1/services", &list); err != nil {
			return err
		}
		for _, s := range list.Services {
			r.println(s.Name)
		}
		return nil
	case "zsh":
		// zsh runs bash completions through bashcompinit.
		fmt.Fprint(r.stdout, "#compdef switchctl\nautoload -U +X bashcompinit && bashcompinit\n")
	}
	fmt.Fprint(r.stdout, bashCompletion())
	return nil
}

// bashCompletion completes commands, flags, colours, conditions and, at a
// SERVICE position, the names switchd reports (with the --addr and --token
// already typed).
func bashCompletion() string {
	var cases strings.Builder
	for _, c := range commandNames() {
		flags := append(append([]string(nil), commandFlags[c]...), globalFlagNames...)
		fmt.Fprintf(&cases, "    %s) flags=%q ;;\n", c, strings.Join(flags, " "))
	}
	return fmt.Sprintf(`_switchctl() {
  local cur prev cmd i npos=0 conn=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "${COMP_WORDS[i]}" in
      --addr|--token|--cacert|--cert|--key)
        conn+=("${COMP_WORDS[i]}" "${COMP_WORDS[i+1]}"); ((i++)) ;;
      --timeout|--expect|--expect-generation|--reason) ((i++)) ;;
      -*) ;;
      *) if [[ -z "$cmd" ]]; then cmd="${COMP_WORDS[i]}"; else ((npos++)); fi ;;
    esac
  done
  case "$prev" in
    --expect) COMPREPLY=($(compgen -W "blue green" -- "$cur")); return ;;
    --cacert|--cert|--key) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --addr|--token|--timeout|--expect-generation|--reason) return ;;
  esac
  local flags=%q
  case "$cmd" in
%s  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "$flags" -- "$cur")); return; fi
  local words=""
  case "$cmd" in
    "") words=%q ;;
    help) [[ $npos -eq 0 ]] && words=%q ;;
    completion) [[ $npos -eq 0 ]] && words="bash zsh" ;;
    log-level) [[ $npos -eq 0 ]] && words="debug info warn error" ;;
    set) if [[ $npos -eq 0 ]]; then words="$(switchctl "${conn[@]}" completion services 2>/dev/null) blue green"; elif [[ $npos -eq 1 ]]; then words="blue green"; fi ;;
    wait) case "$prev" in healthy|drained) words="blue green" ;; *) words="healthy drained stable"; [[ $npos -eq 0 ]] && words="$words $(switchctl "${conn[@]}" completion services 2>/dev/null)" ;; esac ;;
    status|flip|rollback|watch) [[ $npos -eq 0 ]] && words="$(switchctl "${conn[@]}" completion services 2>/dev/null)" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _switchctl switchctl
`, strings.Join(globalFlagNames, " "), cases.String(), strings.Join(commandNames(), " "), strings.Join(commandNames(), " "))
}
