package tmux

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// PanePIDTree returns pid followed by all its descendants (breadth first),
// read from this machine's /proc. It is local only: a Client whose Runner
// reaches another host must not use it. The fleet uses it to find the Claude
// Code process under a pane's shell, and from that its session file.
func (c *Client) PanePIDTree(ctx context.Context, pid int) ([]int, error) {
	return pidTree(ctx, "/proc", pid)
}

func pidTree(ctx context.Context, proc string, pid int) ([]int, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("process tree: invalid pid %d", pid)
	}
	if _, err := os.Stat(proc + "/" + strconv.Itoa(pid)); err != nil {
		return nil, fmt.Errorf("process tree of %d: %w", pid, err)
	}
	entries, err := os.ReadDir(proc)
	if err != nil {
		return nil, fmt.Errorf("process tree of %d: %w", pid, err)
	}
	children := map[int][]int{}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("process tree of %d: %w", pid, err)
		}
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(proc + "/" + e.Name() + "/stat")
		if err != nil {
			continue // exited while we looked
		}
		if ppid, ok := statPPID(string(b)); ok {
			children[ppid] = append(children[ppid], child)
		}
	}
	tree := []int{pid}
	for i := 0; i < len(tree); i++ {
		kids := children[tree[i]]
		slices.Sort(kids)
		tree = append(tree, kids...)
	}
	return tree, nil
}

// statPPID reads the parent pid from /proc/PID/stat: "pid (comm) state ppid …".
// comm may hold spaces and parentheses, so fields are counted after the last ')'.
func statPPID(stat string) (int, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}
