// Package retention places every subscriber on the customer ladder and
// reports whether the shop keeps its customers.
//
// The ladder: prospect (no order), first_time_buyer (1), repeat_buyer (2+),
// regular (Config.RegularOrders orders, or orders in RegularMonths of the
// last RegularWindow months), promoter (an NPS answer of PromoterScore or
// more and PromoterOrders orders); and, whatever the rung, lapsing (no order
// for longer than LapsingFactor times the customer's usual gap between
// orders, at least LapsingMin) and lost (no order for LostAfter). Compute is
// that rule as a pure function.
//
// A stage is recomputed in the transaction that stores a new order (the
// events.Service OnOrder hook) or links a subscriber's earlier orders, and by
// Pass, which the scheduler runs daily so that time alone moves customers to
// lapsing and lost. A move is stored with its time and handed to the
// listeners registered with OnChange, in the same transaction, so a flow
// started by it is never lost or started twice.
//
// Report computes the retention page's figures (GET /api/retention) for a
// period; StoredReport keeps a period's report for the day and Precompute,
// run by the daily pass for DefaultPeriod, makes the page answer at once at a
// million customers. Days and months (ParsePeriod, DefaultPeriod, the moves
// per month, the cohorts) are the shop's calendar, Config.Location
// (store.LocalMonth puts the zone's offsets into the SQL). The revenue
// credited to campaigns and flows comes through the Attribution hook
// (package tracking's conversions, connected in cmd/treu). Answer and Comment store satisfaction (NPS) answers:
// one row per subscriber and survey, corrected within AnswerWindow of the
// first click; SurveyLinks signs the eleven one-click links of a survey mail
// (URL is their base, {{ .SurveyURL }} in flow mails). Detractors lists the
// latest answers 0 to 6 with the address (read through package subscribers),
// the retention page's call-back list.
//
// Orders are read through package events (OrderSummaryOf, OrderSummaries,
// Figures): shop_orders is its table.
//
// Tables written: subscriber_stages (the current stage; no row means
// prospect), stage_changes (every move, append-only), nps_answers (the
// satisfaction answers) and retention_reports (reports computed ahead).
package retention
