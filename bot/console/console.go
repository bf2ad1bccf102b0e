// Package console is the terminal transport: a person at the terminal where
// fleetwarden runs types commands and reads replies and alerts. Whoever has
// the terminal has the host, so the console user is an admin.
package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/fleetwarden/fleetwarden/commands"
)

// Platform and user the console's requests carry.
const (
	Platform = "console"
	User     = "local"
)

// Handler is what the console forwards requests to.
type Handler interface {
	Handle(ctx context.Context, req commands.Request, out commands.Responder)
}

// Console reads commands line by line from In and writes to Out.
type Console struct {
	in  io.Reader
	out io.Writer
	h   Handler

	mu      sync.Mutex
	buttons []commands.Button // of the last reply, chosen by typing their number
}

// New returns a console transport.
func New(in io.Reader, out io.Writer, h Handler) *Console {
	return &Console{in: in, out: out, h: h}
}

// Run reads commands until the input ends or ctx is done.
func (c *Console) Run(ctx context.Context) error {
	lines := make(chan string)
	errc := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(c.in)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		errc <- sc.Err()
	}()
	c.prompt()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if err != nil {
				return fmt.Errorf("console input: %w", err)
			}
			return nil
		case line := <-lines:
			c.handle(ctx, strings.TrimSpace(line))
			c.prompt()
		}
	}
}

func (c *Console) handle(ctx context.Context, line string) {
	if line == "" {
		return
	}
	req := commands.Request{Platform: Platform, UserID: User, UserName: "console", ChatID: "console", Private: true}
	if n, err := strconv.Atoi(line); err == nil {
		c.mu.Lock()
		var b *commands.Button
		if n >= 1 && n <= len(c.buttons) {
			b = &c.buttons[n-1]
		}
		c.mu.Unlock()
		if b == nil || b.Data == "" {
			c.printf("No button %d.\n", n)
			return
		}
		req.Callback = b.Data
	} else {
		if !strings.HasPrefix(line, "/") {
			line = "/" + line
		}
		req.Text = line
	}
	c.h.Handle(ctx, req, commands.ResponderFunc(c.Reply))
}

// Reply prints one reply; buttons are numbered so they can be chosen.
func (c *Console) Reply(_ context.Context, r commands.Reply) error {
	var b strings.Builder
	if r.Text != "" {
		b.WriteString(r.Text)
		b.WriteString("\n")
	}
	if r.Pre != "" {
		b.WriteString(r.Pre)
		b.WriteString("\n")
	}
	var choices []commands.Button
	for _, btn := range r.Buttons {
		if btn.URL != "" {
			fmt.Fprintf(&b, "  %s: %s\n", btn.Text, btn.URL)
			continue
		}
		choices = append(choices, btn)
		fmt.Fprintf(&b, "  [%d] %s\n", len(choices), btn.Text)
	}
	if len(choices) > 0 {
		b.WriteString("  (type the number to choose)\n")
		c.mu.Lock()
		c.buttons = choices
		c.mu.Unlock()
	}
	c.printf("%s", b.String())
	return nil
}

// Notify prints an alert.
func (c *Console) Notify(_ context.Context, text string) error {
	c.printf("\n*** %s\n", text)
	return nil
}

func (c *Console) prompt() { c.printf("fleetwarden> ") }

func (c *Console) printf(format string, a ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.out, format, a...)
}
