package notified

import "testing"

func TestMemory(t *testing.T) {
	var m Memory
	if m.Reached("alert", "a") {
		t.Fatal("an empty memory reached a chat")
	}
	m.Mark("alert", "a")
	if !m.Reached("alert", "a") || m.Reached("alert", "b") || m.Reached("other alert", "a") {
		t.Errorf("after Mark(alert, a): reached a %v, b %v, other alert %v; want true, false, false",
			m.Reached("alert", "a"), m.Reached("alert", "b"), m.Reached("other alert", "a"))
	}
	if m.Reached("", "a") {
		t.Errorf("an empty id was reached")
	}
}
