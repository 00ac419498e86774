package core

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Subscription is one client's subscription to a topic filter.
type Subscription struct {
	ClientID string
	// Filter is the filter as subscribed, including a $share/{group}/
	// prefix; it identifies the subscription within its session.
	Filter string
	// Group is the share name of a shared subscription ("" otherwise) and
	// TopicFilter the filter without the $share prefix.
	Group       string
	TopicFilter string
	// QoS is the maximum QoS granted.
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	// ID is the MQTT 5 subscription identifier (0: none).
	ID uint32
}

// Delivery is one message to one client as the router decided it.
type Delivery struct {
	ClientID string
	// QoS is the largest QoS of the client's matching subscriptions.
	QoS byte
	// RetainAsPublished: some matching subscription keeps the retain flag.
	RetainAsPublished bool
	// SubIDs are the identifiers of the matching subscriptions.
	SubIDs []uint32
	// Share is the shared subscription ("$share/g/f") this delivery is for;
	// "" for the merged non-shared subscriptions.
	Share string
}

// Router finds the clients a topic's messages go to. The in-memory Index
// is the only implementation today; the cluster router (route table kept by
// the placement center, broker-to-broker forwarding) will implement it too.
type Router interface {
	// Subscribe adds or replaces sub (by ClientID and Filter) and reports
	// whether it replaced one.
	Subscribe(sub Subscription) (existed bool)
	// Unsubscribe removes a client's subscription and reports whether it
	// existed.
	Unsubscribe(clientID, filter string) bool
	// Match returns the deliveries for a message published on topic by
	// client from: one per client with non-shared matching subscriptions
	// (merged: largest QoS, every identifier), and for every matching
	// share group one member, chosen round-robin, preferring members for
	// which online reports true.
	Match(topic, from string, online func(clientID string) bool) []Delivery
}

// Index is the in-memory Router: a trie keyed by topic levels.
type Index struct {
	// mu is read-locked by Match (every publish) and write-locked by
	// Subscribe and Unsubscribe; a share group's round-robin counter is an
	// atomic so that matching needs only the read lock.
	mu   sync.RWMutex
	root *node
}

type node struct {
	children map[string]*node
	subs     map[string]*Subscription // by client id
	groups   map[string]*shareGroup   // by share name
}

type shareGroup struct {
	members []string // client ids in subscription order
	subs    map[string]*Subscription
	next    atomic.Uint64
}

// NewIndex returns an empty in-memory router.
func NewIndex() *Index { return &Index{root: &node{}} }

var _ Router = (*Index)(nil)

// Subscribe implements Router.
func (x *Index) Subscribe(sub Subscription) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := x.root
	for _, l := range strings.Split(sub.TopicFilter, "/") {
		if n.children == nil {
			n.children = map[string]*node{}
		}
		c := n.children[l]
		if c == nil {
			c = &node{}
			n.children[l] = c
		}
		n = c
	}
	s := sub
	if sub.Group == "" {
		if n.subs == nil {
			n.subs = map[string]*Subscription{}
		}
		_, existed := n.subs[sub.ClientID]
		n.subs[sub.ClientID] = &s
		return existed
	}
	if n.groups == nil {
		n.groups = map[string]*shareGroup{}
	}
	g := n.groups[sub.Group]
	if g == nil {
		g = &shareGroup{subs: map[string]*Subscription{}}
		n.groups[sub.Group] = g
	}
	_, existed := g.subs[sub.ClientID]
	if !existed {
		g.members = append(g.members, sub.ClientID)
	}
	g.subs[sub.ClientID] = &s
	return existed
}

// Unsubscribe implements Router.
func (x *Index) Unsubscribe(clientID, filter string) bool {
	group, tf := "", filter
	if strings.HasPrefix(filter, "$share/") {
		rest := filter[len("$share/"):]
		var ok bool
		if group, tf, ok = strings.Cut(rest, "/"); !ok {
			return false
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	levels := strings.Split(tf, "/")
	path := make([]*node, 0, len(levels)+1)
	n := x.root
	path = append(path, n)
	for _, l := range levels {
		n = n.children[l]
		if n == nil {
			return false
		}
		path = append(path, n)
	}
	found := false
	if group == "" {
		if _, found = n.subs[clientID]; found {
			delete(n.subs, clientID)
		}
	} else if g := n.groups[group]; g != nil {
		if _, found = g.subs[clientID]; found {
			delete(g.subs, clientID)
			for i, m := range g.members {
				if m == clientID {
					g.members = append(g.members[:i], g.members[i+1:]...)
					break
				}
			}
			if len(g.members) == 0 {
				delete(n.groups, group)
			}
		}
	}
	// Prune empty nodes bottom up.
	for i := len(path) - 1; i > 0; i-- {
		c := path[i]
		if len(c.children) > 0 || len(c.subs) > 0 || len(c.groups) > 0 {
			break
		}
		delete(path[i-1].children, levels[i-1])
	}
	return found
}

// Match implements Router.
func (x *Index) Match(topic, from string, online func(string) bool) []Delivery {
	levels := strings.Split(topic, "/")
	dollar := strings.HasPrefix(topic, "$")
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []Delivery
	byClient := map[string]int{}
	visit := func(n *node) {
		for _, s := range n.subs {
			if s.NoLocal && s.ClientID == from {
				continue
			}
			i, ok := byClient[s.ClientID]
			if !ok {
				i = len(out)
				byClient[s.ClientID] = i
				out = append(out, Delivery{ClientID: s.ClientID})
			}
			d := &out[i]
			d.QoS = max(d.QoS, s.QoS)
			d.RetainAsPublished = d.RetainAsPublished || s.RetainAsPublished
			if s.ID != 0 {
				d.SubIDs = append(d.SubIDs, s.ID)
			}
		}
		for _, g := range n.groups {
			if s := g.pick(online); s != nil {
				d := Delivery{ClientID: s.ClientID, QoS: s.QoS, RetainAsPublished: s.RetainAsPublished, Share: s.Filter}
				if s.ID != 0 {
					d.SubIDs = []uint32{s.ID}
				}
				out = append(out, d)
			}
		}
	}
	x.root.match(levels, 0, dollar, visit)
	return out
}

// pick chooses the next member round-robin, preferring online ones. It
// runs under the index's read lock: concurrent picks may see the same
// counter value, which only makes the rotation less even.
func (g *shareGroup) pick(online func(string) bool) *Subscription {
	n := len(g.members)
	if n == 0 {
		return nil
	}
	start := int(g.next.Add(1)-1) % n
	for i := 0; i < n; i++ {
		m := g.members[(start+i)%n]
		if online == nil || online(m) {
			if i > 0 {
				g.next.Store(uint64(start + i + 1))
			}
			return g.subs[m]
		}
	}
	return g.subs[g.members[start]]
}

// match visits every node whose filter matches levels[i:]. A topic
// starting with '$' is not matched by a wildcard in the first level.
func (n *node) match(levels []string, i int, dollar bool, visit func(*node)) {
	if i == len(levels) {
		visit(n)
		if c := n.children["#"]; c != nil {
			visit(c) // "a/#" matches "a"
		}
		return
	}
	if i > 0 || !dollar {
		if c := n.children["#"]; c != nil {
			visit(c)
		}
		if c := n.children["+"]; c != nil {
			c.match(levels, i+1, dollar, visit)
		}
	}
	if c := n.children[levels[i]]; c != nil {
		c.match(levels, i+1, dollar, visit)
	}
}
