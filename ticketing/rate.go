package ticketing

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxCommentRunes bounds a citizen's comment on a rating.
const MaxCommentRunes = 500

// Rate records the citizen's 1–5 rating of a finished ticket (评价, 回访),
// from the tracking link: the token proves it is the citizen, and a wrong
// one looks like a wrong number. A ticket is rated once (KindConflict
// after that).
func (s *Service) Rate(ctx context.Context, number, token, actor string, score int, comment string) (*Ticket, error) {
	if _, _, err := s.Track(ctx, number, token); err != nil {
		return nil, err
	}
	e, err := EvaluationFromScore(score)
	if err != nil {
		return nil, err
	}
	e.Comment = strings.TrimSpace(comment)
	if utf8.RuneCountInString(e.Comment) > MaxCommentRunes || !utf8.ValidString(e.Comment) {
		return nil, Invalid("comment", "must be at most %d characters", MaxCommentRunes)
	}
	return s.Act(ctx, number, func(t *Ticket, now time.Time) error { return t.Evaluate(now, actor, e) })
}
