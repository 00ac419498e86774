package packets

import "strings"

// SharePrefix starts a shared subscription filter: $share/{group}/{filter}.
const SharePrefix = "$share/"

// ValidateTopicName checks a topic name as PUBLISH and a will carry it: not
// empty, no wildcard characters (MQTT 5.0 section 4.7). Failures are
// ReasonTopicNameInvalid. String encoding (UTF-8, U+0000) is checked by the
// decoder, not here.
func ValidateTopicName(topic string) error {
	if topic == "" {
		return reasonErr(ReasonTopicNameInvalid, "empty topic name")
	}
	if strings.ContainsAny(topic, "+#") {
		return reasonErr(ReasonTopicNameInvalid, "wildcard in topic name %q", topic)
	}
	return nil
}

// ValidateTopicFilter checks a topic filter as SUBSCRIBE and UNSUBSCRIBE
// carry it: not empty; '#' only as the whole last level; '+' only as a whole
// level; a shared subscription ($share/{group}/{filter}) has a non-empty
// group without '/', '+', '#' and a valid non-empty filter. Failures are
// ReasonTopicFilterInvalid.
func ValidateTopicFilter(filter string) error {
	if strings.HasPrefix(filter, SharePrefix) {
		_, _, err := ParseShared(filter)
		return err
	}
	return validateFilter(filter)
}

func validateFilter(filter string) error {
	if filter == "" {
		return reasonErr(ReasonTopicFilterInvalid, "empty topic filter")
	}
	for i := 0; i < len(filter); i++ {
		switch filter[i] {
		case '#':
			if i != len(filter)-1 || (i > 0 && filter[i-1] != '/') {
				return reasonErr(ReasonTopicFilterInvalid, "'#' not a whole last level in %q", filter)
			}
		case '+':
			if (i > 0 && filter[i-1] != '/') || (i < len(filter)-1 && filter[i+1] != '/') {
				return reasonErr(ReasonTopicFilterInvalid, "'+' not a whole level in %q", filter)
			}
		}
	}
	return nil
}

// IsShared reports whether filter names a shared subscription.
func IsShared(filter string) bool { return strings.HasPrefix(filter, SharePrefix) }

// ParseShared splits a shared subscription $share/{group}/{filter} into its
// share name and topic filter and validates both (MQTT 5.0 section 4.8.2).
// A filter without the $share/ prefix is returned unchanged with an empty
// group.
func ParseShared(filter string) (group, topicFilter string, err error) {
	if !strings.HasPrefix(filter, SharePrefix) {
		return "", filter, nil
	}
	rest := filter[len(SharePrefix):]
	group, topicFilter, ok := strings.Cut(rest, "/")
	if !ok {
		return "", "", reasonErr(ReasonTopicFilterInvalid, "shared subscription %q has no topic filter", filter)
	}
	if group == "" {
		return "", "", reasonErr(ReasonTopicFilterInvalid, "shared subscription %q has an empty share name", filter)
	}
	if strings.ContainsAny(group, "+#") {
		return "", "", reasonErr(ReasonTopicFilterInvalid, "wildcard in share name of %q", filter)
	}
	if err := validateFilter(topicFilter); err != nil {
		return "", "", err
	}
	return group, topicFilter, nil
}

// MatchTopic reports whether topic name topic matches topic filter filter
// (MQTT 5.0 section 4.7): '+' matches exactly one level (possibly empty),
// '#' the parent level and any number of levels below, and a topic starting
// with '$' is not matched by a filter starting with a wildcard. filter must
// be valid (ValidateTopicFilter) and not a shared subscription (ParseShared
// first); the result for invalid input is false or arbitrary but never a
// panic. It does not allocate.
func MatchTopic(filter, topic string) bool {
	if topic != "" && topic[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			// "a/#" matches "a": the topic ends, the filter has only "#" left.
			return frest == "#"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}
