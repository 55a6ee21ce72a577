// Package loyalty keeps the bonus programme: points for orders, coupon codes
// for points, and recommend-a-friend.
//
// Points: with Config.PointsPerEuro an order earns that many points per unit
// of the shop's currency (rounded down), in the transaction that stores the
// order (OnOrder, hung on events.Config.OnOrder); an order.refunded event
// takes them back in proportion to the amount refunded, once per order
// (OnRefund, on events.Config.OnRefund). The balance is the sum of the
// ledger (Balance, Balances): GET /api/subscribers/{ref} shows it as
// "points" and mails print it as {{ .Points }}.
//
// Rewards: a balance of Config.RewardPoints becomes one coupon code of
// Config.RewardPool (package coupons assigns it to the subscriber, the
// ledger spends the points and keeps the code), on the order that reaches
// it or in Pass, which the daily scheduler runs. An empty pool leaves the
// points for a later pass.
//
// Referrals: every subscriber has a signed link, ReferralLinks.URL
// (BASE/r/TOKEN, {{ .ReferralURL }} in mails). A friend who enrolls with its
// token (POST /api/subscribers "referral", or the sign-up form reached
// through the link) is recorded by Refer; the friend's first order credits
// the referrer with Config.ReferralPoints and, with Config.ReferralPool, a
// coupon code. AccountOf is what both subscriber pages show.
//
// Tables written: loyalty_points (the ledger; one row per kind and ref, so a
// repeated event changes nothing) and referrals. Both go with the subscriber
// (ON DELETE CASCADE) at erasure.
package loyalty
