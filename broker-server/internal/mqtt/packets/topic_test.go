package packets

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateTopicName(t *testing.T) {
	for _, c := range []struct {
		topic string
		ok    bool
	}{
		{"a", true}, {"/", true}, {"a/b/c", true}, {"a//b", true}, {"$SYS/broker", true}, {" ", true},
		{"sport/tennis/player1", true}, {"é/中", true},
		{"", false}, {"+", false}, {"a/+", false}, {"#", false}, {"a/#", false}, {"a+b", false}, {"a#", false},
	} {
		err := ValidateTopicName(c.topic)
		if (err == nil) != c.ok {
			t.Errorf("%q: %v", c.topic, err)
		}
		if err != nil && !errors.Is(err, ErrTopicNameInvalid) {
			t.Errorf("%q: reason %v", c.topic, err)
		}
	}
}

func TestValidateTopicFilter(t *testing.T) {
	// MQTT 5.0 section 4.7.1 examples and the shared subscription rules of
	// section 4.8.2.
	for _, c := range []struct {
		filter string
		ok     bool
	}{
		{"#", true}, {"sport/#", true}, {"sport/tennis/#", true}, {"+", true}, {"+/tennis/#", true},
		{"sport/+/player1", true}, {"/+", true}, {"+/+", true}, {"a//b", true}, {"/", true}, {"$SYS/#", true},
		{"$share/g/a/b", true}, {"$share/g/#", true}, {"$share/g/+/x", true}, {"$share/g//", true},
		{"$share", true}, {"$sharex/a", true},
		{"", false}, {"sport/tennis#", false}, {"sport/tennis/#/ranking", false}, {"sport+", false},
		{"#/", false}, {"a/#/", false}, {"+a", false}, {"a/+b/c", false}, {"##", false}, {"++", false},
		{"$share/g", false}, {"$share/", false}, {"$share//a", false}, {"$share/g/", false},
		{"$share/g+/a", false}, {"$share/#/a", false}, {"$share/g/a#", false},
	} {
		err := ValidateTopicFilter(c.filter)
		if (err == nil) != c.ok {
			t.Errorf("%q: %v", c.filter, err)
		}
		if err != nil && !errors.Is(err, ErrTopicFilterInvalid) {
			t.Errorf("%q: reason %v", c.filter, err)
		}
	}
}

func TestParseShared(t *testing.T) {
	for _, c := range []struct {
		in, group, filter string
	}{
		{"$share/consumer1/sport/tennis/+", "consumer1", "sport/tennis/+"},
		{"$share/consumer2/sport/tennis/+", "consumer2", "sport/tennis/+"},
		{"$share/g/#", "g", "#"},
		{"$share/g//", "g", "/"},
		{"a/b", "", "a/b"},
		{"$SYS/x", "", "$SYS/x"},
	} {
		g, f, err := ParseShared(c.in)
		if err != nil || g != c.group || f != c.filter {
			t.Errorf("%q: %q %q %v", c.in, g, f, err)
		}
		if IsShared(c.in) != (c.group != "") {
			t.Errorf("IsShared(%q)", c.in)
		}
	}
	if _, _, err := ParseShared("$share/g"); err == nil {
		t.Error("no filter accepted")
	}
}

func TestMatchTopic(t *testing.T) {
	// MQTT 5.0 sections 4.7.1.2, 4.7.1.3 and 4.7.2 examples, and edges.
	for _, c := range []struct {
		filter, topic string
		want          bool
	}{
		{"sport/tennis/player1/#", "sport/tennis/player1", true},
		{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
		{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
		{"sport/#", "sport", true},
		{"#", "sport", true}, {"#", "/", true}, {"#", "a/b/c", true},
		{"sport/tennis/+", "sport/tennis/player1", true},
		{"sport/tennis/+", "sport/tennis/player2", true},
		{"sport/tennis/+", "sport/tennis/player1/ranking", false},
		{"sport/+", "sport", false},
		{"sport/+", "sport/", true},
		{"+/+", "/finance", true},
		{"/+", "/finance", true},
		{"+", "/finance", false},
		{"+", "a", true}, {"+", "", true},
		{"+/#", "a", true}, {"+/#", "a/b/c", true},
		{"a/b", "a/b", true}, {"a/b", "a/b/c", false}, {"a/b/c", "a/b", false}, {"a/b", "a/c", false},
		{"a//b", "a//b", true}, {"a/+/b", "a//b", true}, {"a/", "a", false}, {"a", "a/", false},
		{"a/#", "a/", true}, {"a/#", "ab", false},
		// $-topics are not matched by a leading wildcard.
		{"#", "$SYS/monitor/Clients", false},
		{"+/monitor/Clients", "$SYS/monitor/Clients", false},
		{"$SYS/#", "$SYS/monitor/Clients", true},
		{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
		{"$SYS/#", "$SYS", true},
		{"+", "$SYS", false}, {"a/+", "a/$b", true}, {"a/#", "a/$b", true},
	} {
		if got := MatchTopic(c.filter, c.topic); got != c.want {
			t.Errorf("MatchTopic(%q, %q) = %v", c.filter, c.topic, got)
		}
		if got := refMatch(c.filter, c.topic); got != c.want {
			t.Errorf("refMatch(%q, %q) = %v", c.filter, c.topic, got)
		}
	}
}

func TestMatchTopicAllocs(t *testing.T) {
	n := testing.AllocsPerRun(100, func() { MatchTopic("sport/+/player1/#", "sport/tennis/player1/score") })
	if n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

// refMatch is the matching rule written the plain way: split both into
// levels and compare.
func refMatch(filter, topic string) bool {
	f := strings.Split(filter, "/")
	tp := strings.Split(topic, "/")
	if strings.HasPrefix(topic, "$") && (f[0] == "+" || f[0] == "#") {
		return false
	}
	for i, l := range f {
		if l == "#" {
			return true
		}
		if i >= len(tp) || (l != "+" && l != tp[i]) {
			return false
		}
	}
	return len(f) == len(tp)
}

func FuzzTopicMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"sport/#", "sport"}, {"+/+", "/finance"}, {"#", "$SYS/x"}, {"a/+/c", "a/b/c"}, {"$share/g/a", "a"},
		{"+/#", "a"}, {"a//#", "a//"}, {"", ""}, {"a/#/b", "a/x/b"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		got := MatchTopic(filter, topic) // never panics, whatever the input
		ferr := ValidateTopicFilter(filter)
		terr := ValidateTopicName(topic)
		_, _, _ = ParseShared(filter)
		if ferr != nil || terr != nil || IsShared(filter) {
			return
		}
		if want := refMatch(filter, topic); got != want {
			t.Fatalf("MatchTopic(%q, %q) = %v, reference says %v", filter, topic, got, want)
		}
		// A filter without wildcards matches exactly itself.
		if !strings.ContainsAny(filter, "+#") && got != (filter == topic) {
			t.Fatalf("literal filter %q vs %q: %v", filter, topic, got)
		}
		// A topic used as a filter matches itself.
		if !MatchTopic(topic, topic) {
			t.Fatalf("%q does not match itself", topic)
		}
		if !strings.HasPrefix(topic, "$") && !MatchTopic("#", topic) {
			t.Fatalf("# does not match %q", topic)
		}
	})
}
