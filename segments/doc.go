// Package segments owns segment rules: it parses API.md's JSON rule trees,
// compiles them to parameterised SQL over subscribers, defines a mailing's
// audience (AudienceWhere, Count), and stores named segments.
//
// Tables: it writes segments. segment_attrs (migration 0005) is an inverted
// index of subscribers.attributes kept by triggers; this package only reads it.
//
// Segments are dynamic: a segment stores its rule, and the audience is
// computed when a campaign or flow sends (campaigns snapshot
// AudienceWhere into delivery rows). Matches checks a rule for one
// subscriber (a flow's condition step).
//
// # SQL
//
// Rule.SQL returns a boolean expression over `subscribers AS s` with ?
// placeholders; values and attribute keys are always bound, never spliced.
// The expression is never NULL, so {"not": r} is the exact complement of r.
// Subqueries use aliases starting with seg_ (rules) and aud_ (audience).
//
// # Fields and ops
//
//	field                     kind     ops
//	email                     text     eq ne in contains starts_with  (case-insensitive: compared with email_key)
//	name                      text     eq ne in contains starts_with
//	locale, status            enum     eq ne in                       (values checked: de en / pending active unsubscribed)
//	orders.count, orders.total number  eq ne lt lte gt gte in
//	created_at                date     before after within_days
//	orders.last_at            date     before after within_days exists (never ordered: exists false)
//	list                      slug     eq ne in                       (an active subscription to that list)
//	stage                     enum     eq ne in                       (the ladder stage: retention.Stages; SQL from retention.StageWhere)
//	attributes.KEY            JSON     all ops
//
// eq/ne/in compare exactly; contains and starts_with use LIKE with % _ \
// escaped, which in SQLite folds ASCII case only. ne is exactly NOT eq, so
// for a nullable date or a missing attribute ne matches. in takes a non-empty
// array; an unknown list slug simply matches nobody.
//
// Dates are YYYY-MM-DD (a UTC day) or RFC 3339. "before D" means before D
// starts, "after D" after D ends; with an instant both are strict.
// within_days N (1..36500) means at or after now minus N×24h, where now is
// injected; a later timestamp (shop clock skew) still counts.
//
// # Attributes
//
// attributes.KEY names a top-level key (letters, digits, _ - .; a dot is part
// of the key). Comparisons are type-strict: a string value matches string
// attributes, a number matches numbers (integer and real compare numerically),
// true/false match booleans; the string "42" is not the number 42. lt/gt on
// strings compare as text. exists true means present and not null. before,
// after and within_days read string attributes as dates (YYYY-MM-DD, RFC 3339);
// other strings never match.
//
// Limits: depth MaxDepth, MaxConditions conditions, MaxValues values in in
// arrays; past them a rule is refused with errs.Invalid naming the place, as
// is every unknown field or op ("rule.all[2].op": unknown op "xx" for field
// "email").
//
// # Audience and suppression
//
// A subscriber is in the audience iff the marketing rule of package
// subscribers holds for the lists (subscribers.MarketingWhere: active,
// actively subscribed to one of the lists, not suppressed) and the rule
// matches; the rule's SQL is placed inside that expression before the
// suppression test, so the hash runs only for rows that passed everything else.
package segments
