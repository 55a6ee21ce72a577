// Package coupons owns coupon pools: named sets of single-use codes that flow
// mails hand out, one code per mail.
//
// Tables written: coupon_pools, coupon_codes. A code is assigned (subscriber,
// assigned_at) by Assign inside the caller's transaction, the same one that
// queues the mail carrying it and advances the flow run, so a code is never
// given twice: under concurrency the UPDATE re-checks assigned_at IS NULL, and
// after a crash the assignment rolled back together with the mail.
//
// Codes come from the shop (AddCodes, ImportCSV) or are generated from a
// pattern such as "SPRING-XXXX-XXXX" (Generate, crypto/rand; each X is one of
// 31 letters and digits without the look-alikes 0, O, 1, I, L).
package coupons
