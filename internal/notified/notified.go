// Package notified remembers which chats a notification (by its ID)
// reached, so that a retry of a route with several chats goes only to the
// ones that missed it: nobody gets the same alert twice because another
// chat was down. Keyed by ID, not text: the same words can be a new alert.
package notified

import (
	"crypto/sha256"
	"sync"
	"time"
)

// keep is how long a delivery is remembered; retries come within minutes.
const keep = 24 * time.Hour

// Memory is safe for concurrent use. The zero value is ready.
type Memory struct {
	mu sync.Mutex
	m  map[[32]byte]map[string]time.Time // id → chat → when
}

// Reached reports whether notification id was delivered to chat.
func (m *Memory) Reached(id, chat string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.m[sha256.Sum256([]byte(id))][chat]
	return ok
}

// Mark records that notification id was delivered to chat.
func (m *Memory) Mark(id, chat string) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[[32]byte]map[string]time.Time{}
	}
	for k, chats := range m.m {
		for c, at := range chats {
			if now.Sub(at) > keep {
				delete(chats, c)
			}
		}
		if len(chats) == 0 {
			delete(m.m, k)
		}
	}
	k := sha256.Sum256([]byte(id))
	if m.m[k] == nil {
		m.m[k] = map[string]time.Time{}
	}
	m.m[k][chat] = now
}
