//! Likelihoods and predictions at fixed parameters against numbers computed
//! independently.
//!
//! The expected values were produced by `make_spot_values.py` in the golden
//! folder ([`super::golden_dir`]; Python 3.11, scipy in a venv): closed forms written from FHL 2005
//! and Hardie's notes 004/021/025 with scipy.special (gammaln, betaln,
//! logsumexp, hyp2f1), each cross-checked in that script against direct
//! numerical integration of the model's definition (scipy.integrate.quad over
//! p ~ Beta for BG/NBD, over ν ~ Gamma for Gamma-Gamma) to 1e-9 relative.
//! E[Y(365)] is the quad value (scipy's hyp2f1 overflows at x = 5000; where
//! both exist they agree to 1e-9). Output pasted verbatim from
//! `spot_values.txt` in the same folder.

use super::assert_close;
use crate::clv::{
    bgnbd_log_likelihood, conditional_expected_purchases, gamma_gamma_log_likelihood, predict,
    probability_alive, BgNbdParams, CustomerSummaryInput, GammaGammaParams, PredictionSettings,
};

const BG: [BgNbdParams; 2] = [
    // CDNOW's published fit (weeks) converted to days, and one with a > 1.
    BgNbdParams {
        r: 0.243,
        alpha: 30.898,
        a: 0.793,
        b: 2.426,
    },
    BgNbdParams {
        r: 0.5,
        alpha: 40.0,
        a: 1.3,
        b: 6.0,
    },
];

/// (param set, x, t_x, T, log-likelihood, p_alive, E[Y(365)], p_no_order(365)).
type BgSpot = (usize, f64, f64, f64, f64, f64, f64, f64);
const BG_SPOTS: [BgSpot; 16] = [
    (
        0,
        0.0,
        0.0,
        0.0,
        0.0,
        1.0,
        1.4486012675219353,
        0.5380719292108186,
    ),
    (
        0,
        0.0,
        0.0,
        100.0,
        -0.35082564570812325,
        1.0,
        0.5116558358647574,
        0.7234930756764876,
    ),
    (
        0,
        1.0,
        10.0,
        50.0,
        -5.757501327908595,
        0.5671704068986518,
        1.905813451053587,
        0.5007938343024977,
    ),
    (
        0,
        2.0,
        30.0,
        30.0,
        -9.86327128882111,
        0.8120407679544915,
        5.507342820554525,
        0.19830850799445682,
    ),
    (
        0,
        3.0,
        200.0,
        365.0,
        -18.90060546510675,
        0.49271696080044725,
        1.2058919855933237,
        0.5664962384208476,
    ),
    (
        0,
        20.0,
        700.0,
        730.0,
        -96.43540012799195,
        0.9228883884376824,
        7.71766118299121,
        0.07744300594056465,
    ),
    (
        0,
        5000.0,
        900.0,
        1000.0,
        3386.9683747330782,
        1.6636168225073364e-218,
        2.602291671592791e-215,
        1.0,
    ),
    (
        0,
        5000.0,
        999.0,
        1000.0,
        2885.5339242396003,
        0.9800950342576633,
        1533.101319073083,
        0.01990496574233669,
    ),
    (
        1,
        0.0,
        0.0,
        0.0,
        0.0,
        1.0,
        2.4638989723936118,
        0.31426968052735443,
    ),
    (
        1,
        0.0,
        0.0,
        100.0,
        -0.6263814842476838,
        1.0,
        1.0070845493830585,
        0.5265241901112211,
    ),
    (
        1,
        1.0,
        10.0,
        50.0,
        -5.373697253938376,
        0.6564954053386703,
        2.4223230747988236,
        0.4012581015015843,
    ),
    (
        1,
        2.0,
        30.0,
        30.0,
        -9.260595329444502,
        0.8433734939759037,
        5.4279648748299465,
        0.1653872684899061,
    ),
    (
        1,
        3.0,
        200.0,
        365.0,
        -18.35727112832953,
        0.4964272543167752,
        1.2627664476191967,
        0.5559606058705211,
    ),
    (
        1,
        20.0,
        700.0,
        730.0,
        -95.91893870333908,
        0.8949033032036554,
        7.051614100326521,
        0.1054110521172627,
    ),
    (
        1,
        5000.0,
        900.0,
        1000.0,
        3338.365268995498,
        1.0866244961308976e-216,
        1.5632684341765798e-213,
        1.0,
    ),
    (
        1,
        5000.0,
        999.0,
        1000.0,
        2841.1213608055405,
        0.969091932464249,
        1394.180632988461,
        0.030908067535751038,
    ),
];

const GG: [GammaGammaParams; 2] = [
    GammaGammaParams {
        p: 6.0,
        q: 4.0,
        gamma: 16.0,
    },
    GammaGammaParams {
        p: 0.8,
        q: 2.5,
        gamma: 40.0,
    },
];

/// (param set, x, m, log-likelihood).
const GG_SPOTS: [(usize, f64, f64, f64); 8] = [
    (0, 1.0, 20.0, -3.5435968597606546),
    (0, 3.0, 5.5, -6.657882333234923),
    (0, 50.0, 100.0, -7.511541802173724),
    (0, 5000.0, 17.0, -3.347513704095036),
    (1, 1.0, 20.0, -4.337928845736911),
    (1, 3.0, 5.5, -2.9952489622690592),
    (1, 50.0, 100.0, -8.030974400035689),
    (1, 5000.0, 17.0, -3.419207513135916),
];

#[test]
fn bgnbd_log_likelihood_matches_independent_values() {
    for &(i, x, t_x, t, ll, ..) in &BG_SPOTS {
        // lnΓ of arguments ~5000 carries ~1e-12 absolute error in both
        // implementations; 1e-10 relative leaves room for that.
        assert_close(
            bgnbd_log_likelihood(&BG[i], x, t_x, t),
            ll,
            1e-10,
            1e-12,
            &format!("ll {i} {x} {t_x} {t}"),
        );
    }
}

#[test]
fn p_alive_expected_purchases_and_p_no_order_match_independent_values() {
    for &(i, x, t_x, t, _, pa, e365, pno) in &BG_SPOTS {
        let what = format!("set {i} x={x} t_x={t_x} T={t}");
        assert_close(
            probability_alive(&BG[i], x, t_x, t),
            pa,
            1e-11,
            0.0,
            &format!("p_alive {what}"),
        );
        assert_close(
            conditional_expected_purchases(&BG[i], x, t_x, t, 365.0),
            e365,
            1e-9,
            0.0,
            &format!("E[Y(365)] {what}"),
        );
        // Through predict(): one month of 365 days, so expected_orders is
        // E[Y(365)] and p_no_order is over the same 365 days.
        let (f, r, tt, m) = ([x as i64], [t_x as i64], [t as i64], [0.0]);
        let input = CustomerSummaryInput {
            frequency: &f,
            recency_days: &r,
            tenure_days: &tt,
            monetary_value: &m,
        };
        let settings = PredictionSettings {
            horizon_months: 1,
            month_days: 365.0,
            discount_rate_monthly: 0.0,
        };
        let pred = &predict(BG[i], None, &input, &settings)[0];
        assert_close(
            pred.expected_orders,
            e365,
            1e-9,
            0.0,
            &format!("predict E {what}"),
        );
        assert_close(
            pred.p_no_order,
            pno,
            1e-11,
            1e-15,
            &format!("p_no_order {what}"),
        );
    }
}

#[test]
fn gamma_gamma_log_likelihood_matches_independent_values() {
    for &(i, x, m, ll) in &GG_SPOTS {
        assert_close(
            gamma_gamma_log_likelihood(&GG[i], x, m),
            ll,
            1e-10,
            1e-12,
            &format!("gg ll {i} {x} {m}"),
        );
    }
}
