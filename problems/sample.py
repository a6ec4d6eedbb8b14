"""A deterministic, realistic sample stream of tickets and Jira events, with its ground truth.

`generate_sample` builds months of closed support tickets from hundreds of customers,
the Jira release train of five product lines and the Jira defects behind some of the
recurring problems, all as JSON-ready event payloads that `problems.events.parse_event`
accepts. `write_sample` writes them to ``events.jsonl`` beside ``ground_truth.json``.

What is planted, so that every later stage can be scored:

* about 30 root causes, each with its own vocabulary (error codes, exception classes,
  stack frames, symptoms), long-tailed in size, severity and affected tiers; their
  tickets are phrased many ways (templates, synonyms, typos, pasted logs, quoted email
  replies, signatures) and carry personal data (emails, phones, IPs, tokens, passwords,
  the odd card number) so that masking matters;
* background noise (how-to questions, one-offs), about a fifth of the tickets;
* Jira defects for about two thirds of the root causes, written as an engineer would,
  plus distractor issues that no ticket is about; a few tickets carry the defect key;
* a spike (a bad release introduces a root cause), a fixed defect (its tickets stop a
  week after its fix version ships) and a regression (tickets return, from customers on
  the fix version or later, a few weeks after the fix).

True impact of a root cause R (the figure the register should rank by)::

    true_impact(R) = sum over distinct customers c with a ticket about R of
                         tier_weight(c) * (1 + log10(1 + ARR(c) / 10,000)) * sev(c, R)
                     + 0.2 * n_tickets(R)

with tier_weight enterprise 4, business 2, pro 1, free 0.25, and sev(c, R) the severity
multiplier of the most severe ticket c filed about R (critical 2, high 1.5, medium 1,
low 0.75). A reopened ticket counts once.

Only ``random.Random(seed)`` drives the generator: no global random state, no wall
clock, no ``hash()`` of strings, no iteration over sets; the same seed and arguments
give byte-identical files.

Examples
--------
>>> sample = generate_sample(seed=3, n_tickets=200)
>>> from problems.events import parse_event
>>> kinds = {type(parse_event(event)).__name__ for event in sample.events}
>>> sorted(kinds)
['JiraIssueEvent', 'JiraVersionEvent', 'TicketClosed']
>>> sample.ground_truth["spike"]["root_cause"]
'checkout-coupon-npe'
>>> generate_sample(seed=3, n_tickets=200).events == sample.events
True
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from random import Random
from typing import Any

__all__ = [
    "IMPACT_FORMULA",
    "SEVERITY_MULTIPLIERS",
    "TIER_WEIGHTS",
    "Sample",
    "generate_sample",
    "true_impact",
    "write_sample",
]

TIER_WEIGHTS: dict[str, float] = {"enterprise": 4.0, "business": 2.0, "pro": 1.0, "free": 0.25}
"""How much one affected customer of each tier weighs in the true impact."""

SEVERITY_MULTIPLIERS: dict[str, float] = {"critical": 2.0, "high": 1.5, "medium": 1.0, "low": 0.75}
"""Multiplier of a customer's most severe ticket about a root cause."""

IMPACT_FORMULA = (
    "true_impact = sum over distinct affected customers c of tier_weight(c) * "
    "(1 + log10(1 + ARR(c) / 10000)) * severity_multiplier(c) + 0.2 * n_tickets, where "
    "tier_weight is enterprise 4, business 2, pro 1, free 0.25; severity_multiplier(c) is "
    "that of the most severe ticket customer c filed about the root cause (critical 2, "
    "high 1.5, medium 1, low 0.75); n_tickets counts distinct tickets (a reopen counts once)."
)

_TIERS = ("enterprise", "business", "pro", "free")
_SEVERITIES = ("critical", "high", "medium", "low")
_SEVERITY_RANK = {name: rank for rank, name in enumerate(_SEVERITIES)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = timedelta(days=1)
_PLACEHOLDER = re.compile(r"\{(order|invoice|coupon|amount|hex|sub|err|version|product)\}")


def true_impact(tickets: Iterable[tuple[str, str, float, str]]) -> float:
    """The documented true impact of one root cause (see the module docstring).

    Parameters
    ----------
    tickets
        One ``(account_id, tier, arr, severity)`` tuple per distinct ticket.

    Returns
    -------
    float
        Rounded to two decimals.

    Examples
    --------
    >>> true_impact([("a", "enterprise", 90_000.0, "high"), ("a", "enterprise", 90_000.0, "low"),
    ...              ("b", "free", 0.0, "medium")])
    12.85
    """
    worst: dict[str, tuple[str, float, str]] = {}
    n_tickets = 0
    for account_id, tier, arr, severity in tickets:
        n_tickets += 1
        seen = worst.get(account_id)
        if seen is None or _SEVERITY_RANK[severity] < _SEVERITY_RANK[seen[2]]:
            worst[account_id] = (tier, arr, severity)
    total = 0.2 * n_tickets
    for tier, arr, severity in worst.values():
        total += (
            TIER_WEIGHTS[tier] * (1 + math.log10(1 + arr / 10_000)) * SEVERITY_MULTIPLIERS[severity]
        )
    return round(total, 2)


# ---------------------------------------------------------------------------------------
# The world: products, root causes, noise topics, names.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Product:
    name: str
    label: str
    project_key: str
    project_id: int
    major: int
    minor: int
    components: tuple[str, ...]
    share: float
    offset_days: int


_PRODUCTS = (
    _Product(
        "billing",
        "Billing",
        "BIL",
        10100,
        4,
        2,
        ("Invoices", "Payments", "Subscriptions", "Tax", "Dunning"),
        0.8,
        1,
    ),
    _Product(
        "checkout",
        "Checkout",
        "CHK",
        10200,
        7,
        1,
        ("Cart", "Payment Gateway", "Coupons", "Shipping", "3DS"),
        0.75,
        2,
    ),
    _Product(
        "mobile",
        "Mobile app",
        "MOB",
        10300,
        3,
        8,
        ("iOS App", "Android App", "Push Notifications", "Offline Sync", "Login"),
        0.45,
        3,
    ),
    _Product(
        "integrations",
        "Integrations",
        "INT",
        10400,
        2,
        14,
        ("Salesforce Connector", "Webhooks", "REST API", "SSO/SAML", "Zapier"),
        0.5,
        8,
    ),
    _Product(
        "reporting",
        "Reporting",
        "REP",
        10500,
        5,
        0,
        ("Dashboards", "CSV Export", "Scheduled Reports", "Data Warehouse Sync"),
        0.55,
        9,
    ),
)
_PRODUCT_BY_NAME = {product.name: product for product in _PRODUCTS}


@dataclass(frozen=True)
class _Cause:
    """A root cause and the words that betray it (customers' and engineers')."""

    id: str
    title: str
    product: str
    component: str
    errors: tuple[str, ...]
    subjects: tuple[str, ...]
    symptoms: tuple[str, ...]
    trace: tuple[str, ...]
    jira_summary: str
    jira_body: str
    workaround: str
    severity: tuple[float, float, float, float]
    tiers: tuple[float, float, float, float]
    tags: tuple[str, ...]


_CAUSES = (
    _Cause(
        id="billing-invoice-pdf-timeout",
        title="Invoice PDF generation times out for large invoices",
        product="billing",
        component="Invoices",
        errors=(
            "ERR_PDF_RENDER_TIMEOUT",
            "InvoiceRenderTimeoutException: rendering invoice exceeded 30000 ms",
            "504 Gateway Time-out",
        ),
        subjects=(
            "Invoice PDF won't download",
            "Timeout when downloading invoice {invoice}",
            "cannot open invoice PDF - {err}",
            "Invoice PDF export spinning forever",
        ),
        symptoms=(
            "When we click Download PDF on an invoice with many line items the page spins "
            "and then fails.",
            "Our finance team cannot download invoice PDFs for the big monthly invoices "
            "anymore, small ones work.",
            "Downloading invoice {invoice} as PDF times out after about 30 seconds.",
            "The invoice PDF never finishes generating for invoices with a few hundred lines.",
        ),
        trace=(
            "com.acme.billing.invoice.InvoiceRenderTimeoutException: rendering invoice "
            "exceeded 30000 ms",
            "\tat com.acme.billing.invoice.PdfRenderer.render(PdfRenderer.java:141)",
            "\tat com.acme.billing.invoice.InvoiceController.download(InvoiceController.java:88)",
            "\tat java.base/java.util.concurrent.FutureTask.get(FutureTask.java:205)",
        ),
        jira_summary="PdfRenderer.render exceeds 30s budget for invoices with >500 line items",
        jira_body="The invoice PDF renderer lays out every line item in one pass and the table "
        "layout is quadratic in the number of rows. Above roughly 500 lines the render "
        "hits the 30 s budget, InvoiceRenderTimeoutException is thrown and the API "
        "answers ERR_PDF_RENDER_TIMEOUT.",
        workaround="exported the invoice as CSV from Billing > Invoices > Export instead",
        severity=(0.05, 0.3, 0.5, 0.15),
        tiers=(1.6, 1.2, 0.6, 0.2),
        tags=("invoice", "pdf"),
    ),
    _Cause(
        id="billing-proration-double-charge",
        title="Plan upgrade prorated twice (double charge)",
        product="billing",
        component="Subscriptions",
        errors=(
            "ERR_DUPLICATE_PRORATION",
            "ProrationConflict: proration_credit already applied for period",
        ),
        subjects=(
            "Charged twice after upgrading plan",
            "Double charge on our card after plan change",
            "Upgrade created two proration lines",
            "Wrong amount on invoice after upgrade",
        ),
        symptoms=(
            "We upgraded from Business to Enterprise mid-month and got charged twice for the "
            "prorated amount.",
            "After changing the number of seats the invoice shows the proration credit two times.",
            "Our card was charged {amount} twice on the same day right after the plan upgrade.",
            "The upcoming invoice contains a duplicate proration line for the upgrade.",
        ),
        trace=(
            "WARN  [billing-worker] ProrationConflict: proration_credit already applied for period",
            "ERROR [billing-worker] ERR_DUPLICATE_PRORATION subscription={sub} attempt=2",
        ),
        jira_summary="Plan-change webhook retried, proration booked twice",
        jira_body="When the plan-change handler times out the payment provider retries the "
        "webhook. ProrationService does not check the idempotency key, so the proration "
        "credit/debit pair is booked a second time (ERR_DUPLICATE_PRORATION in logs).",
        workaround="refunded the duplicate amount and credited the account",
        severity=(0.15, 0.5, 0.3, 0.05),
        tiers=(1.0, 1.4, 1.2, 0.1),
        tags=("proration", "refund"),
    ),
    _Cause(
        id="billing-vat-rounding",
        title="EU VAT rounded one cent off on invoices",
        product="billing",
        component="Tax",
        errors=("TaxMismatchError: line total 19.00 != computed 18.99", "ERR_TAX_ROUNDING"),
        subjects=(
            "VAT amount off by 0.01",
            "Rounding error on invoice tax",
            "Tax total doesn't match line items",
            "our accountant says the VAT is wrong",
        ),
        symptoms=(
            "The VAT on our invoices is one cent lower than the sum of the line items.",
            "Our accountant flagged that the tax total on invoice {invoice} differs by 0.01 "
            "EUR from the line items.",
            "Invoices with several line items at 19% VAT have rounding differences, which "
            "our ERP rejects.",
        ),
        trace=(
            "TaxMismatchError: line total 19.00 != computed 18.99 (invoice={invoice}, "
            "rate=0.19, mode=HALF_DOWN)",
        ),
        jira_summary="VAT rounded HALF_DOWN per invoice instead of HALF_UP per line",
        jira_body="TaxCalculator rounds the summed tax once per invoice with HALF_DOWN. German and "
        "Austrian rules expect per-line HALF_UP rounding, so multi-line invoices can be "
        "a cent off and ERP imports fail with TaxMismatchError.",
        workaround="issued a corrected invoice with the tax adjusted by hand",
        severity=(0.0, 0.15, 0.55, 0.3),
        tiers=(1.2, 1.3, 1.0, 0.2),
        tags=("tax", "vat"),
    ),
    _Cause(
        id="billing-dunning-email-loop",
        title="Dunning emails keep coming after the invoice was paid",
        product="billing",
        component="Dunning",
        errors=("DunningScheduler: retry attempt 14 of 3", "ERR_DUNNING_STATE_STALE"),
        subjects=(
            "Getting payment reminder emails every hour",
            "Still receiving 'payment failed' emails although we paid",
            "Stop the dunning emails please",
            "Spam of payment reminders",
        ),
        symptoms=(
            "We paid the overdue invoice yesterday but keep getting 'your payment failed' "
            "emails every hour.",
            "Our billing contact received 14 payment reminders today although the invoice "
            "is marked as paid.",
            "The reminder emails do not stop after the card was updated and the payment "
            "went through.",
        ),
        trace=(
            "INFO  [dunning] DunningScheduler: retry attempt 14 of 3 for invoice={invoice}",
            "WARN  [dunning] ERR_DUNNING_STATE_STALE: invoice paid but dunning run active",
        ),
        jira_summary="Dunning run not cancelled when invoice is paid with a new payment method",
        jira_body="The dunning state machine only listens for invoice.paid from the default "
        "payment method. Payments with a newly attached card leave the run active and "
        "the retry counter grows past its cap ('retry attempt 14 of 3').",
        workaround="cancelled the dunning run by hand in the admin console",
        severity=(0.0, 0.2, 0.5, 0.3),
        tiers=(0.6, 1.0, 1.3, 1.0),
        tags=("dunning", "email"),
    ),
    _Cause(
        id="billing-card-update-fails",
        title="Updating the payment card fails",
        product="billing",
        component="Payments",
        errors=(
            "ERR_PAYMENT_METHOD_ATTACH_FAILED",
            "StripeInvalidRequestError: No such setupintent: 'seti_{hex}'",
        ),
        subjects=(
            "Can't update credit card",
            "Error when changing payment method",
            "Card update fails with {err}",
            "unable to add new card to account",
        ),
        symptoms=(
            "I am trying to replace our expiring credit card and the form says something "
            "went wrong.",
            "Adding a new payment method fails right after entering the card details.",
            "When we save the new card on the billing page we get an error and the old card "
            "stays active.",
        ),
        trace=(
            "StripeInvalidRequestError: No such setupintent: 'seti_{hex}'",
            "    at PaymentMethodService.attach (payment-method-service.ts:77:13)",
            "    at async BillingController.updateCard (billing-controller.ts:142:5)",
        ),
        jira_summary="SetupIntent created in the US Stripe account for EU-hosted tenants",
        jira_body="For tenants hosted in the EU region the card form creates the SetupIntent with "
        "the US platform key, so confirming it against the EU account fails with 'No "
        "such setupintent' and we return ERR_PAYMENT_METHOD_ATTACH_FAILED.",
        workaround="sent a one-time payment link to update the card",
        severity=(0.1, 0.45, 0.35, 0.1),
        tiers=(0.8, 1.0, 1.2, 1.0),
        tags=("payment-method", "card"),
    ),
    _Cause(
        id="billing-fx-stale",
        title="Multi-currency invoices use stale exchange rates",
        product="billing",
        component="Invoices",
        errors=("FxRateStaleWarning: rate age 172800s exceeds 86400s", "ERR_FX_RATE_STALE"),
        subjects=(
            "Wrong exchange rate on invoice",
            "Invoice in GBP uses an old rate",
            "Currency conversion looks outdated",
        ),
        symptoms=(
            "Our invoices in GBP are converted with an exchange rate from two days ago.",
            "The EUR to CHF rate on the latest invoice does not match the ECB rate of that day.",
            "Converted totals on invoice {invoice} are off compared to the rate at invoice date.",
        ),
        trace=(
            "WARN  [fx-sync] FxRateStaleWarning: rate age 172800s exceeds 86400s (pair=EURGBP)",
        ),
        jira_summary="FX sync keeps previous rates when the provider answers 429",
        jira_body="The nightly FX sync treats HTTP 429 from the rate provider as 'no change' and "
        "keeps the previous rates, so invoices in non-base currencies use rates older "
        "than 24h (FxRateStaleWarning).",
        workaround="reissued the invoice with the correct rate",
        severity=(0.0, 0.1, 0.5, 0.4),
        tiers=(1.5, 1.2, 0.6, 0.1),
        tags=("currency", "fx"),
    ),
    _Cause(
        id="checkout-3ds-declined",
        title="3-D Secure challenges declined although the bank approved",
        product="checkout",
        component="3DS",
        errors=(
            "ERR_PAYMENT_DECLINED_3DS",
            "ThreeDSecureAuthFailed: ACS challenge timed out",
            "authentication_required",
        ),
        subjects=(
            "Customers' payments declined with 3DS",
            "3D secure failing at checkout",
            "{err} on many orders",
            "Payments failing for European cards",
            "Checkout: card declined after bank approval",
        ),
        symptoms=(
            "Our shoppers approve the payment in their banking app but checkout still says "
            "the card was declined.",
            "Since this morning many orders from European customers fail with a 3-D Secure error.",
            "Customers complain that the 3DS popup closes and the payment is declined.",
            "We see a lot of declined payments at the 3DS step, for example order {order}.",
        ),
        trace=(
            "com.acme.checkout.payments.ThreeDSecureAuthFailed: ACS challenge timed out after "
            "10000ms (order={order})",
            "\tat com.acme.checkout.payments.ThreeDSecureClient.challenge"
            "(ThreeDSecureClient.java:203)",
            "\tat com.acme.checkout.payments.PaymentService.authorize(PaymentService.java:117)",
        ),
        jira_summary="3DS2 challenge result read with a 10s timeout; slow ACS answers count as "
        "declines",
        jira_body="ThreeDSecureClient reads the challenge result with a 10 s timeout, but several "
        "issuer ACS take 12-20 s. The authorization is treated as failed and mapped to "
        "ERR_PAYMENT_DECLINED_3DS although the issuer approved it.",
        workaround="asked the shoppers to retry; the second attempt usually passes",
        severity=(0.2, 0.45, 0.3, 0.05),
        tiers=(1.3, 1.3, 1.0, 0.3),
        tags=("3ds", "payments"),
    ),
    _Cause(
        id="checkout-coupon-npe",
        title="Applying a coupon without an expiry date crashes the cart",
        product="checkout",
        component="Coupons",
        errors=(
            "java.lang.NullPointerException at com.acme.checkout.CartService.applyCoupon",
            "HTTP 500 Internal Server Error on POST /api/v2/cart/coupons",
            "ERR_INTERNAL",
        ),
        subjects=(
            "Coupons not working anymore",
            "Discount code gives error 500",
            "Error when applying promo code",
            "Checkout broken when using voucher",
            "URGENT coupon codes fail since update",
        ),
        symptoms=(
            "Since the last update our customers get an error when they enter a discount "
            "code at checkout.",
            "Applying the coupon {coupon} fails with a 500 error and the cart can't be completed.",
            "None of our promo codes work any more, the checkout shows 'Something went wrong'.",
            "Shoppers using voucher codes cannot complete checkout; without the code it works.",
        ),
        trace=(
            'java.lang.NullPointerException: Cannot invoke "java.time.Instant.isBefore'
            '(java.time.Instant)" because "expiry" is null',
            "\tat com.acme.checkout.CartService.applyCoupon(CartService.java:218)",
            "\tat com.acme.checkout.CartController.addCoupon(CartController.java:96)",
            "\tat org.springframework.web.servlet.FrameworkServlet.service"
            "(FrameworkServlet.java:897)",
        ),
        jira_summary="NPE in CartService.applyCoupon for coupons with no expiry",
        jira_body="The coupon validation refactor compares coupon.expiry with Instant.now() "
        "without a null check. Coupons created without an end date (most evergreen "
        "promo codes) throw a NullPointerException in CartService.applyCoupon and the "
        "cart API returns 500.",
        workaround="set an explicit end date on the coupons",
        severity=(0.35, 0.45, 0.2, 0.0),
        tiers=(1.2, 1.3, 1.1, 0.4),
        tags=("coupon", "500"),
    ),
    _Cause(
        id="checkout-cart-merge",
        title="Cart emptied when the shopper logs in",
        product="checkout",
        component="Cart",
        errors=(
            "CartMergeConflictException: guest cart {hex} conflicts with customer cart",
            "ERR_CART_SESSION_EXPIRED",
        ),
        subjects=(
            "Cart items disappear after login",
            "Customers losing their basket",
            "Basket empty after sign in",
        ),
        symptoms=(
            "Shoppers add items as guests and after logging in the cart is empty.",
            "We get complaints that the basket is lost when customers sign in during checkout.",
            "Items vanish from the cart after the customer logs in on mobile web.",
        ),
        trace=(
            "WARN  [cart] CartMergeConflictException: guest cart {hex} conflicts with customer "
            "cart",
            "INFO  [cart] ERR_CART_SESSION_EXPIRED session={hex}",
        ),
        jira_summary="Guest cart dropped instead of merged on login when a customer cart exists",
        jira_body="CartMergeService throws CartMergeConflictException when both a guest cart and a "
        "stored customer cart exist; the exception is swallowed and the guest cart is "
        "discarded.",
        workaround="advised shoppers to log in before adding items",
        severity=(0.05, 0.3, 0.5, 0.15),
        tiers=(0.8, 1.1, 1.2, 0.8),
        tags=("cart", "login"),
    ),
    _Cause(
        id="checkout-shipping-rates",
        title="No shipping options when a carrier API returns 503",
        product="checkout",
        component="Shipping",
        errors=(
            "ShippingRateProviderError: upstream 503 from carrier api",
            "ERR_NO_SHIPPING_RATES",
        ),
        subjects=(
            "No shipping options at checkout",
            "Shipping methods missing",
            "Checkout says no delivery available",
            "{err} for some addresses",
        ),
        symptoms=(
            "At the shipping step customers see 'No shipping options available' for normal "
            "addresses.",
            "Shipping rates do not load and customers cannot finish their order.",
            "Delivery options are missing for orders to Canada and the UK.",
        ),
        trace=(
            "ERROR [shipping] ShippingRateProviderError: upstream 503 from carrier api "
            "(carrier=ups, attempt=1)",
            "ERROR [shipping] ERR_NO_SHIPPING_RATES cart={hex}",
        ),
        jira_summary="Carrier rate lookup has no retry or fallback on 503",
        jira_body="RateAggregator calls each carrier once without retry; one 503 from a carrier "
        "API leaves the options list empty (ERR_NO_SHIPPING_RATES) instead of falling "
        "back to cached table rates.",
        workaround="enabled flat-rate fallback shipping",
        severity=(0.1, 0.4, 0.4, 0.1),
        tiers=(1.0, 1.2, 1.0, 0.5),
        tags=("shipping", "carrier"),
    ),
    _Cause(
        id="checkout-gateway-timeout",
        title="Payment authorization times out (504) at peak load",
        product="checkout",
        component="Payment Gateway",
        errors=(
            "504 Gateway Timeout on /api/v2/payments/authorize",
            "io.netty.handler.timeout.ReadTimeoutException",
            "ERR_GATEWAY_TIMEOUT",
        ),
        subjects=(
            "Payments timing out",
            "504 errors at checkout",
            "Gateway timeout when paying",
            "Orders stuck in pending payment",
        ),
        symptoms=(
            "During our evening peak many payments hang and end with a 504 error.",
            "Orders remain in 'pending payment' and the customer sees a timeout.",
            "Payment authorization takes forever and then fails, for example order {order}.",
        ),
        trace=(
            "io.netty.handler.timeout.ReadTimeoutException: null",
            "\tat com.acme.checkout.gateway.AcquirerClient.authorize(AcquirerClient.java:154)",
            "\tat com.acme.checkout.payments.PaymentService.authorize(PaymentService.java:121)",
        ),
        jira_summary="Acquirer connection pool exhausted at peak; authorize calls time out",
        jira_body="AcquirerClient uses a fixed pool of 50 connections. At peak load requests queue "
        "past the 15 s read timeout (ReadTimeoutException) and the edge returns 504 for "
        "/api/v2/payments/authorize.",
        workaround="asked the customer to retry the payment",
        severity=(0.3, 0.4, 0.25, 0.05),
        tiers=(1.5, 1.2, 0.8, 0.3),
        tags=("gateway", "timeout"),
    ),
    _Cause(
        id="checkout-address-unicode",
        title="Addresses with characters outside Latin-1 are rejected",
        product="checkout",
        component="Shipping",
        errors=(
            "ERR_ADDRESS_INVALID_CHARSET",
            "UnicodeEncodeError: 'latin-1' codec can't encode character '\\u0142'",
        ),
        subjects=(
            "Address with special characters not accepted",
            "Polish addresses rejected at checkout",
            "invalid address error for some countries",
        ),
        symptoms=(
            "Customers with letters like ł or ř in their street name cannot complete checkout.",
            "The address form says the address is invalid when it contains Polish characters.",
            "Orders to Łódź fail at the address step.",
        ),
        trace=(
            "UnicodeEncodeError: 'latin-1' codec can't encode character '\\u0142' in position "
            "7: ordinal not in range(256)",
            '  File "/srv/address/validate.py", line 58, in normalize_street',
        ),
        jira_summary="Address validator encodes street names to latin-1 before geocoding",
        jira_body="normalize_street encodes street names as latin-1 for the legacy geocoder. "
        "Characters outside latin-1 (ł, ř, ő) raise UnicodeEncodeError and the API "
        "returns ERR_ADDRESS_INVALID_CHARSET.",
        workaround="entered the address without diacritics",
        severity=(0.0, 0.25, 0.5, 0.25),
        tiers=(0.8, 1.0, 1.2, 0.9),
        tags=("address", "unicode"),
    ),
    _Cause(
        id="mobile-ios-launch-crash",
        title="iOS app crashes on launch while restoring the session",
        product="mobile",
        component="iOS App",
        errors=("EXC_BAD_ACCESS (SIGSEGV)", "AcmeKit.SessionManager.restore()", "Thread 0 Crashed"),
        subjects=(
            "App crashes immediately on iPhone",
            "iOS app closes right after opening",
            "Mobile app crash on startup",
            "app wont open on iOS",
        ),
        symptoms=(
            "The app opens for a second and then closes on my iPhone.",
            "Several of our staff can't use the iOS app, it crashes at startup.",
            "After the last app update the app crashes every time I open it.",
        ),
        trace=(
            "Exception Type:  EXC_BAD_ACCESS (SIGSEGV)",
            "Exception Codes: KERN_INVALID_ADDRESS at 0x0000000000000010",
            "Thread 0 Crashed:",
            "0   AcmeKit   0x0000000104a1c2f4 AcmeKit.SessionManager.restore() + 212",
            "1   AcmeKit   0x0000000104a19e80 AppDelegate.application(_:didFinishLaunching"
            "WithOptions:) + 96",
        ),
        jira_summary="Crash in SessionManager.restore() when the keychain item is missing",
        jira_body="SessionManager.restore() force-unwraps the keychain token. After an iOS backup "
        "restore the keychain item is gone and the app crashes at launch with "
        "EXC_BAD_ACCESS.",
        workaround="reinstalled the app",
        severity=(0.3, 0.45, 0.2, 0.05),
        tiers=(1.0, 1.0, 1.1, 1.2),
        tags=("ios", "crash"),
    ),
    _Cause(
        id="mobile-android-push",
        title="Android push notifications not delivered",
        product="mobile",
        component="Push Notifications",
        errors=("FirebaseMessagingException: SENDER_ID_MISMATCH", "ERR_PUSH_TOKEN_INVALID"),
        subjects=(
            "No push notifications on Android",
            "Android users not getting notifications",
            "Push stopped working",
        ),
        symptoms=(
            "Our Android users no longer receive push notifications for new orders.",
            "Notifications arrive on iPhone but not on Android devices.",
            "Push notifications stopped on all our Samsung phones.",
        ),
        trace=(
            "ERROR [push] FirebaseMessagingException: SENDER_ID_MISMATCH token={hex}",
            "WARN  [push] ERR_PUSH_TOKEN_INVALID dropping token",
        ),
        jira_summary="Tokens from the old FCM sender id rejected after Firebase migration",
        jira_body="After the move to the new Firebase project, tokens registered with the old "
        "sender id are rejected with SENDER_ID_MISMATCH and the push service drops them "
        "(ERR_PUSH_TOKEN_INVALID) instead of asking the app to re-register.",
        workaround="logged out and in again in the app to refresh the push token",
        severity=(0.05, 0.35, 0.45, 0.15),
        tiers=(0.9, 1.1, 1.0, 0.8),
        tags=("android", "push"),
    ),
    _Cause(
        id="mobile-offline-sync",
        title="Offline edits lost on sync conflict",
        product="mobile",
        component="Offline Sync",
        errors=("SyncConflictError: server revision 42 != local revision 41", "ERR_SYNC_CONFLICT"),
        subjects=(
            "Changes made offline are lost",
            "Sync conflict error in app",
            "Data disappears after going back online",
        ),
        symptoms=(
            "Our field technicians make changes offline and after reconnecting the changes "
            "are gone.",
            "The app shows a sync conflict and then discards the local edits.",
            "When the tablet comes back online some of the updates we made are lost.",
        ),
        trace=(
            "SyncConflictError: server revision 42 != local revision 41 (entity=workorder/{hex})",
        ),
        jira_summary="Offline sync resolves conflicts server-wins and discards local edits",
        jira_body="The sync engine resolves every revision conflict (ERR_SYNC_CONFLICT) with "
        "server-wins and silently drops edits made offline. Field-level merge was "
        "planned but never implemented.",
        workaround="asked the technicians to sync before going offline",
        severity=(0.1, 0.4, 0.4, 0.1),
        tiers=(1.6, 1.2, 0.5, 0.1),
        tags=("offline", "sync"),
    ),
    _Cause(
        id="mobile-faceid-loop",
        title="Face ID login loops back to the login screen",
        product="mobile",
        component="Login",
        errors=("LAErrorSystemCancel", "AUTH_TOKEN_REFRESH_FAILED"),
        subjects=(
            "Face ID login loop",
            "Stuck on login screen with Face ID",
            "Biometric login not working",
        ),
        symptoms=(
            "After Face ID succeeds the app goes back to the login screen again.",
            "I'm stuck in a loop: Face ID, spinner, login screen.",
            "Biometric login stopped working, the password login works.",
        ),
        trace=(
            "[auth] biometric result=LAErrorSystemCancel",
            "[auth] AUTH_TOKEN_REFRESH_FAILED status=401",
        ),
        jira_summary="Biometric unlock retries with an expired refresh token and loops",
        jira_body="After biometric unlock the app uses the cached refresh token; when it has "
        "expired the refresh returns 401 (AUTH_TOKEN_REFRESH_FAILED) and the app restarts "
        "the biometric flow instead of falling back to the password.",
        workaround="disabled Face ID and logged in with the password",
        severity=(0.0, 0.2, 0.5, 0.3),
        tiers=(0.7, 0.9, 1.1, 1.3),
        tags=("login", "faceid"),
    ),
    _Cause(
        id="mobile-android-anr",
        title="Android app freezes (ANR) when scrolling the orders list",
        product="mobile",
        component="Android App",
        errors=(
            "ANR in com.acme.mobile (Input dispatching timed out)",
            "Application Not Responding",
        ),
        subjects=(
            "Android app freezing",
            "App not responding when scrolling orders",
            "Android app very slow and hangs",
        ),
        symptoms=(
            "The Android app freezes when I scroll through the orders list and then "
            "Android offers to close it.",
            "Scrolling the order history hangs the app for several seconds.",
            "We get 'App isn't responding' on our Android tablets.",
        ),
        trace=(
            "ANR in com.acme.mobile (com.acme.mobile/.orders.OrderListActivity)",
            "Reason: Input dispatching timed out (Waiting to send non-key event)",
            "  at com.acme.mobile.orders.OrderAdapter.onBindViewHolder(OrderAdapter.kt:88)",
        ),
        jira_summary="OrderAdapter decodes thumbnails on the main thread, ANR on long lists",
        jira_body="OrderAdapter.onBindViewHolder decodes product thumbnails synchronously. With "
        "more than ~200 orders the main thread blocks long enough to trigger an ANR "
        "(input dispatching timed out).",
        workaround="reduced the order list page size in settings",
        severity=(0.05, 0.3, 0.45, 0.2),
        tiers=(1.0, 1.0, 1.0, 0.9),
        tags=("android", "performance"),
    ),
    _Cause(
        id="mobile-random-logout",
        title="Mobile users logged out daily (refresh token expires)",
        product="mobile",
        component="Login",
        errors=("401 invalid_grant: refresh token expired", "ERR_SESSION_REVOKED"),
        subjects=(
            "App keeps logging me out",
            "Random logouts in mobile app",
            "Have to log in again every day",
        ),
        symptoms=(
            "The mobile app logs me out several times a day.",
            "Our team has to sign in again every morning, the session doesn't last.",
            "We are randomly logged out while using the app.",
        ),
        trace=(
            'POST /oauth/token 401 {"error":"invalid_grant","error_description":'
            '"refresh token expired"}',
        ),
        jira_summary="Mobile client got the 24h web refresh-token TTL instead of 30 days",
        jira_body="The mobile OAuth client inherited the web default refresh TTL of 24h, so token "
        "refresh fails with invalid_grant every day and the app shows the login screen.",
        workaround="explained that a configuration fix is planned",
        severity=(0.0, 0.15, 0.5, 0.35),
        tiers=(0.8, 1.0, 1.1, 1.2),
        tags=("login", "session"),
    ),
    _Cause(
        id="integrations-salesforce-duplicates",
        title="Salesforce sync creates duplicate contacts",
        product="integrations",
        component="Salesforce Connector",
        errors=(
            "DUPLICATE_VALUE: duplicate value found: External_Id__c duplicates value on record",
            "ERR_SFDC_UPSERT_FAILED",
        ),
        subjects=(
            "Duplicate contacts in Salesforce",
            "Salesforce sync failing with DUPLICATE_VALUE",
            "Sync creates duplicates in our CRM",
        ),
        symptoms=(
            "Every sync creates duplicate contacts in our Salesforce org.",
            "The Salesforce connector fails for some records with a duplicate value error.",
            "Our sales team sees each customer twice in Salesforce since we enabled the sync.",
        ),
        trace=(
            "ERROR [sfdc-sync] ERR_SFDC_UPSERT_FAILED batch={hex}",
            "DUPLICATE_VALUE: duplicate value found: External_Id__c duplicates value on record "
            "with id: 0035g00000{hex}",
        ),
        jira_summary="Parallel Salesforce upsert batches race on External_Id__c",
        jira_body="Two sync workers can upsert the same contact at once; the second insert hits "
        "DUPLICATE_VALUE on External_Id__c or, where the field is not unique, creates a "
        "duplicate record.",
        workaround="ran the dedupe script on the customer's org",
        severity=(0.05, 0.35, 0.45, 0.15),
        tiers=(1.7, 1.3, 0.4, 0.0),
        tags=("salesforce", "crm"),
    ),
    _Cause(
        id="integrations-webhook-signature",
        title="Webhook signature verification fails",
        product="integrations",
        component="Webhooks",
        errors=(
            "ERR_WEBHOOK_SIGNATURE_MISMATCH",
            "HMAC verification failed for header X-Acme-Signature",
            "401 Unauthorized",
        ),
        subjects=(
            "Webhook signatures don't validate",
            "X-Acme-Signature mismatch",
            "Our endpoint rejects your webhooks",
            "Webhooks failing signature check",
        ),
        symptoms=(
            "Our webhook endpoint rejects your calls because the signature does not match "
            "the payload.",
            "HMAC verification of the X-Acme-Signature header fails for about half of the "
            "webhooks.",
            "We verify webhooks exactly as in your docs but the signature check fails.",
        ),
        trace=(
            "WARN  [webhooks] HMAC verification failed for header X-Acme-Signature "
            "(delivery={hex})",
            "ERROR [webhooks] ERR_WEBHOOK_SIGNATURE_MISMATCH endpoint returned 401",
        ),
        jira_summary="Webhook HMAC computed over re-serialized JSON, not the raw body sent",
        jira_body="The dispatcher signs the payload after re-serializing it with another key "
        "order and whitespace than the body it sends, so consumers computing the HMAC "
        "over the raw body get ERR_WEBHOOK_SIGNATURE_MISMATCH.",
        workaround="suggested skipping signature checks for now and allowlisting our IPs",
        severity=(0.15, 0.45, 0.35, 0.05),
        tiers=(1.4, 1.3, 0.8, 0.2),
        tags=("webhooks", "signature"),
    ),
    _Cause(
        id="integrations-rate-limit",
        title="API rate limit hit well below the plan quota",
        product="integrations",
        component="REST API",
        errors=("429 Too Many Requests", "ERR_RATE_LIMITED retry_after=60"),
        subjects=(
            "Getting 429 although under our limit",
            "API rate limiting too aggressive",
            "429 errors from the REST API",
        ),
        symptoms=(
            "Our integration gets 429 responses even though we send far fewer requests than "
            "our plan allows.",
            "The API returns Too Many Requests after about 100 calls per minute, our quota "
            "is 1000.",
            "Our nightly sync fails with rate limit errors.",
        ),
        trace=(
            "HTTP/1.1 429 Too Many Requests",
            "Retry-After: 60",
            '{"error":"ERR_RATE_LIMITED","retry_after":60}',
        ),
        jira_summary="Rate limiter keys on the load balancer address instead of the API key",
        jira_body="Since the load balancer change the limiter sees the LB address on every "
        "request and applies one bucket across tenants, so customers get 429 "
        "ERR_RATE_LIMITED far below their quota.",
        workaround="raised the tenant's limit temporarily",
        severity=(0.1, 0.4, 0.4, 0.1),
        tiers=(1.3, 1.3, 0.9, 0.2),
        tags=("api", "rate-limit"),
    ),
    _Cause(
        id="integrations-saml-clock-skew",
        title="SAML SSO rejects assertions (no clock skew tolerance)",
        product="integrations",
        component="SSO/SAML",
        errors=(
            "ERR_SSO_ASSERTION_EXPIRED",
            "SAMLResponse rejected: NotOnOrAfter condition failed",
        ),
        subjects=(
            "SSO login failing for our users",
            "SAML error on login",
            "Can't log in through Okta",
            "Azure AD SSO broken",
        ),
        symptoms=(
            "Some of our employees can't sign in with SSO, they get an error after the Okta "
            "redirect.",
            "Single sign-on via Azure AD fails now and then with an expired assertion error.",
            "Logins through our identity provider fail every few attempts.",
        ),
        trace=(
            "WARN  [sso] SAMLResponse rejected: NotOnOrAfter condition failed (skew=0s)",
            "ERROR [sso] ERR_SSO_ASSERTION_EXPIRED idp=okta",
        ),
        jira_summary="SAML validator allows 0s clock skew while SP nodes drift up to 90s",
        jira_body="The assertion validator has no clock skew tolerance. Two SP nodes drift by up "
        "to 90 s, so assertions are rejected (NotOnOrAfter condition failed, "
        "ERR_SSO_ASSERTION_EXPIRED) depending on which node handles the callback.",
        workaround="asked the customer's IdP admin to extend the assertion validity",
        severity=(0.3, 0.45, 0.2, 0.05),
        tiers=(2.5, 1.0, 0.2, 0.0),
        tags=("sso", "saml"),
    ),
    _Cause(
        id="integrations-oauth-invalid-client",
        title="OAuth token refresh fails after client secret rotation",
        product="integrations",
        component="REST API",
        errors=("invalid_client: client authentication failed", "ERR_OAUTH_CLIENT_AUTH"),
        subjects=(
            "invalid_client after rotating secret",
            "OAuth refresh failing",
            "API auth broken after key rotation",
        ),
        symptoms=(
            "After rotating our client secret the integration can no longer refresh tokens.",
            "We get invalid_client on the token endpoint although we use the new secret.",
            "Our API client stopped working after we generated a new secret in the admin panel.",
        ),
        trace=(
            'POST /oauth/token 401 {"error":"invalid_client","error_description":'
            '"client authentication failed"}',
        ),
        jira_summary="Rotated client secrets not propagated to the token service cache for 24h",
        jira_body="The token service caches client credentials for 24h and ignores rotation "
        "events, so a new secret is rejected with invalid_client until the cache "
        "expires.",
        workaround="flushed the credential cache for the tenant",
        severity=(0.1, 0.4, 0.4, 0.1),
        tiers=(1.3, 1.2, 0.9, 0.2),
        tags=("oauth", "api"),
    ),
    _Cause(
        id="integrations-zapier-delay",
        title="Zapier triggers delayed by hours",
        product="integrations",
        component="Zapier",
        errors=("PollingTriggerLagWarning: lag=5400s", "ERR_TRIGGER_BACKLOG"),
        subjects=(
            "Zaps triggering hours late",
            "Zapier integration delayed",
            "New order trigger slow in Zapier",
        ),
        symptoms=(
            "Our Zaps fire one or two hours after the order was created.",
            "The new-order trigger in Zapier is very delayed today.",
            "Zapier only picks up new records after a long time.",
        ),
        trace=(
            "WARN  [zapier-poll] PollingTriggerLagWarning: lag=5400s",
            "WARN  [zapier-poll] ERR_TRIGGER_BACKLOG queue=2731",
        ),
        jira_summary="Zapier polling served by a single consumer; backlog grows at peak",
        jira_body="Polling triggers are served by one consumer. At peak hours the queue grows "
        "(ERR_TRIGGER_BACKLOG) and trigger lag reaches one to two hours.",
        workaround="suggested the instant webhook trigger instead of polling",
        severity=(0.0, 0.15, 0.55, 0.3),
        tiers=(0.3, 0.9, 1.4, 1.0),
        tags=("zapier", "delay"),
    ),
    _Cause(
        id="reporting-csv-truncated",
        title="CSV export truncated at 65,535 rows",
        product="reporting",
        component="CSV Export",
        errors=("ExportRowLimitExceeded: 65535", "ERR_EXPORT_TRUNCATED"),
        subjects=(
            "CSV export is missing rows",
            "Export cuts off at 65535 lines",
            "Incomplete CSV export",
            "Report export truncated",
        ),
        symptoms=(
            "When we export the orders report to CSV we only get 65,535 rows, the report has more.",
            "Our CSV exports are incomplete, the last weeks are missing.",
            "The exported file always stops at exactly 65535 lines.",
        ),
        trace=(
            "WARN  [export] ExportRowLimitExceeded: 65535 rows (report={hex})",
            "INFO  [export] ERR_EXPORT_TRUNCATED file written with partial data",
        ),
        jira_summary="CsvExportWriter inherits the XLS 65535-row cap and truncates silently",
        jira_body="CsvExportWriter reuses the legacy XLS writer and its row cap of 65535. Larger "
        "exports are cut off without any error shown to the user "
        "(ExportRowLimitExceeded only appears in the logs).",
        workaround="split the export into date ranges",
        severity=(0.05, 0.35, 0.45, 0.15),
        tiers=(1.6, 1.3, 0.6, 0.2),
        tags=("export", "csv"),
    ),
    _Cause(
        id="reporting-dashboard-timezone",
        title="Dashboards bucket data in UTC instead of the account timezone",
        product="reporting",
        component="Dashboards",
        errors=("TimezoneMismatch: expected Europe/Berlin got UTC",),
        subjects=(
            "Dashboard shows wrong day",
            "Daily revenue chart off by one day",
            "Timezone wrong in dashboards",
        ),
        symptoms=(
            "The daily revenue chart puts late-evening orders on the next day.",
            "Our dashboard numbers for yesterday do not match the orders list.",
            "Dashboards seem to use UTC although our account is set to Europe/Berlin.",
        ),
        trace=("WARN  [dash] TimezoneMismatch: expected Europe/Berlin got UTC (widget={hex})",),
        jira_summary="Dashboard aggregation ignores the account timezone",
        jira_body="Widget queries bucket with date_trunc in UTC; the account timezone is only "
        "applied to labels, so daily totals shift for non-UTC accounts "
        "(TimezoneMismatch warnings).",
        workaround="pointed out that the export uses the correct timezone",
        severity=(0.0, 0.1, 0.5, 0.4),
        tiers=(1.0, 1.1, 1.0, 0.7),
        tags=("dashboard", "timezone"),
    ),
    _Cause(
        id="reporting-scheduled-not-sent",
        title="Scheduled reports not delivered",
        product="reporting",
        component="Scheduled Reports",
        errors=(
            "SchedulerJobFailed: job report_weekly_digest lock not acquired",
            "550 5.7.1 relay denied",
        ),
        subjects=(
            "Weekly report email not received",
            "Scheduled report missing",
            "Didn't get our Monday report",
        ),
        symptoms=(
            "Our weekly scheduled report did not arrive this Monday.",
            "Scheduled reports are not emailed to the team anymore.",
            "The daily digest report has not been delivered for three days.",
        ),
        trace=(
            "ERROR [scheduler] SchedulerJobFailed: job report_weekly_digest lock not acquired",
            "ERROR [mailer] 550 5.7.1 relay denied",
        ),
        jira_summary="Report scheduler lock not released after a worker restart",
        jira_body="When the scheduler worker restarts during a run the job's Redis lock is never "
        "released and the following runs fail with 'lock not acquired'. Retries also "
        "hit the SMTP relay limit (550 5.7.1).",
        workaround="re-sent the report by hand",
        severity=(0.0, 0.25, 0.5, 0.25),
        tiers=(1.3, 1.2, 0.8, 0.3),
        tags=("scheduled-report", "email"),
    ),
    _Cause(
        id="reporting-warehouse-schema",
        title="Warehouse sync fails when the source gains a column",
        product="reporting",
        component="Data Warehouse Sync",
        errors=(
            "SnowflakeSQLException: SQL compilation error: invalid identifier 'DISCOUNT_CODE'",
            "ERR_WAREHOUSE_SCHEMA_DRIFT",
        ),
        subjects=(
            "Snowflake sync failing",
            "Data warehouse export error invalid identifier",
            "Warehouse sync stopped",
        ),
        symptoms=(
            "Our Snowflake sync has failed every night this week.",
            "The data warehouse export stops with an invalid identifier error.",
            "Our BI team says the warehouse tables have not been updated for days.",
        ),
        trace=(
            "net.snowflake.client.jdbc.SnowflakeSQLException: SQL compilation error: error "
            "line 1 at position 87",
            "invalid identifier 'DISCOUNT_CODE'",
            "\tat com.acme.reporting.warehouse.SnowflakeSink.merge(SnowflakeSink.java:212)",
        ),
        jira_summary="Warehouse sink never migrates the target schema when columns are added",
        jira_body="SnowflakeSink.merge builds the MERGE from the source schema but never issues "
        "ALTER TABLE for new columns. Since orders gained DISCOUNT_CODE the merge fails "
        "with invalid identifier (ERR_WAREHOUSE_SCHEMA_DRIFT).",
        workaround="added the column by hand in the customer's warehouse",
        severity=(0.1, 0.45, 0.35, 0.1),
        tiers=(2.0, 1.2, 0.3, 0.0),
        tags=("warehouse", "snowflake"),
    ),
    _Cause(
        id="reporting-widget-blank",
        title="Dashboard widgets render blank for empty results",
        product="reporting",
        component="Dashboards",
        errors=("TypeError: Cannot read properties of undefined (reading 'series')",),
        subjects=("Dashboard widgets empty", "Charts not showing", "Blank dashboard"),
        symptoms=(
            "Half of the widgets on our dashboard are blank.",
            "Charts don't render, the browser console shows a TypeError.",
            "The dashboard loads but the graphs stay empty in Chrome.",
        ),
        trace=(
            "Uncaught TypeError: Cannot read properties of undefined (reading 'series')",
            "    at renderChart (dashboard.bundle.js:2:48211)",
            "    at WidgetFrame.update (dashboard.bundle.js:2:51377)",
        ),
        jira_summary="renderChart crashes when a widget query returns no rows",
        jira_body="For empty result sets the API returns data: null and renderChart reads "
        "data.series without a guard (TypeError in the console), leaving the widget "
        "blank.",
        workaround="changed the widget's date range",
        severity=(0.0, 0.15, 0.5, 0.35),
        tiers=(1.0, 1.0, 1.0, 0.8),
        tags=("dashboard", "frontend"),
    ),
    _Cause(
        id="reporting-query-oom",
        title="Large report queries run out of memory",
        product="reporting",
        component="Dashboards",
        errors=("java.lang.OutOfMemoryError: Java heap space", "ERR_REPORT_QUERY_FAILED"),
        subjects=(
            "Report fails for full year",
            "Annual report won't load",
            "Report error for large date range",
        ),
        symptoms=(
            "When we pick a full year in the sales report it fails after a minute.",
            "Large reports fail with a generic error, small date ranges work.",
            "We can't run the annual revenue report anymore.",
        ),
        trace=(
            "java.lang.OutOfMemoryError: Java heap space",
            "\tat com.acme.reporting.QueryExecutor.aggregate(QueryExecutor.java:341)",
            "\tat com.acme.reporting.ReportService.run(ReportService.java:97)",
        ),
        jira_summary="QueryExecutor.aggregate materializes all rows before grouping",
        jira_body="The aggregation path loads the full result set before grouping. Year-long "
        "reports of large tenants exceed the 4 GB heap (OutOfMemoryError) and return "
        "ERR_REPORT_QUERY_FAILED.",
        workaround="ran the report per quarter",
        severity=(0.05, 0.35, 0.45, 0.15),
        tiers=(2.0, 1.2, 0.4, 0.1),
        tags=("report", "performance"),
    ),
)

_CAUSE_BY_ID = {cause.id: cause for cause in _CAUSES}
_SPIKE_CAUSE = "checkout-coupon-npe"
_SPIKE_CAUSE_PRODUCT = "checkout"
_FIXED_CAUSE = "reporting-csv-truncated"
_REGRESSION_CAUSE = "integrations-webhook-signature"


@dataclass(frozen=True)
class _Topic:
    """A background-noise topic: how-to questions, one-offs, account chores."""

    name: str
    product: str | None
    subjects: tuple[str, ...]
    bodies: tuple[str, ...]
    resolution: tuple[str, ...]


_TOPICS = (
    _Topic(
        "password-reset",
        None,
        ("Password reset email not received", "How do I reset my password?", "Locked out"),
        (
            "I forgot my password and the reset link never arrives at my inbox.",
            "One of our users is locked out after too many attempts, can you unlock the account?",
        ),
        (
            "Resent the reset link and asked the user to check the spam folder.",
            "Unlocked the account.",
        ),
    ),
    _Topic(
        "invoice-copy",
        "billing",
        ("Copy of invoice {invoice}", "Need invoice for last month", "Invoice address change"),
        (
            "Could you send us a copy of invoice {invoice}? Our accounting lost it.",
            "Please change the billing address on our invoices to our new office.",
            "We need the VAT number printed on the invoice.",
        ),
        ("Sent the invoice copy.", "Updated the billing details."),
    ),
    _Topic(
        "seats",
        "billing",
        ("Add 5 more seats", "How to upgrade our plan", "Pricing question"),
        (
            "We would like to add five more seats to our subscription, how does billing work?",
            "What is the price difference between Business and Enterprise?",
            "Can we switch to annual billing mid-year?",
        ),
        ("Explained the plans and sent the pricing page.", "Added the seats."),
    ),
    _Topic(
        "cancel",
        "billing",
        ("Cancel our subscription", "Refund request", "Downgrade to free"),
        (
            "We want to cancel our subscription at the end of the term.",
            "We accidentally bought the annual plan instead of monthly, can we get a refund?",
            "Please downgrade our account to the free plan.",
        ),
        ("Processed the cancellation.", "Refund issued as a one-off exception."),
    ),
    _Topic(
        "export-howto",
        "reporting",
        ("How to export orders?", "Export question", "Where is the export button?"),
        (
            "How can I export all orders of last quarter to Excel?",
            "Is there a way to export only refunded orders?",
        ),
        ("Sent the help center article on exports.",),
    ),
    _Topic(
        "report-schedule-howto",
        "reporting",
        ("How do I schedule a report", "Weekly report setup", "Share dashboard with team"),
        (
            "I'd like the sales dashboard emailed to my manager every Monday, how do I set "
            "that up?",
            "How can I share a dashboard with people outside our account?",
        ),
        ("Explained report scheduling and sharing settings.",),
    ),
    _Topic(
        "sso-howto",
        "integrations",
        ("Setting up SSO", "SAML configuration help", "SCIM provisioning question"),
        (
            "We are on Enterprise and want to set up SSO with Okta. Where do we find the ACS URL?",
            "Does your SCIM endpoint support group push?",
        ),
        ("Shared the SSO setup guide and metadata URL.",),
    ),
    _Topic(
        "api-docs",
        "integrations",
        ("API documentation question", "Webhook setup help", "Which API version to use"),
        (
            "Where can I find documentation for the orders endpoint? The link in the portal "
            "returns 404.",
            "How do we register a webhook endpoint for refunds?",
            "Is v1 of the API going to be deprecated?",
        ),
        ("Sent the API reference link.", "Explained webhook registration."),
    ),
    _Topic(
        "feature-request",
        None,
        ("Feature request: dark mode", "Feature request: custom fields", "Suggestion"),
        (
            "It would be great to have dark mode in the dashboard.",
            "We need custom fields on customer records, is that on the roadmap?",
            "Could you add an option to bulk edit products?",
        ),
        ("Logged the feature request for product management.",),
    ),
    _Topic(
        "gdpr",
        None,
        ("GDPR deletion request", "Data processing agreement", "Where is our data stored?"),
        (
            "Please delete all personal data of our former employee {email}.",
            "Can you send us your DPA for signature?",
            "Our legal team asks in which region our data is hosted.",
        ),
        ("Completed the deletion request.", "Sent the DPA."),
    ),
    _Topic(
        "account-owner",
        None,
        ("Change account owner", "Add admin user", "Remove former employee"),
        (
            "Our account owner left the company, please transfer ownership to me.",
            "How can I give admin rights to a colleague?",
        ),
        ("Transferred ownership after verification.",),
    ),
    _Topic(
        "mobile-download",
        "mobile",
        ("Where to download the app", "MDM deployment of the app", "Tablet support"),
        (
            "Is the mobile app available for Android tablets?",
            "We deploy apps through Intune, is there a managed app configuration?",
        ),
        ("Shared the store links and MDM guide.",),
    ),
    _Topic(
        "training",
        None,
        ("Onboarding session", "Training for new team", "Webinar recording"),
        (
            "Could we schedule an onboarding call for our new support team?",
            "Is there a recording of last week's webinar?",
        ),
        ("Scheduled the onboarding session.",),
    ),
    _Topic(
        "tax-exempt",
        "billing",
        ("Tax exemption certificate", "We are tax exempt", "Reverse charge question"),
        (
            "We are a non-profit and tax exempt, where can we upload our certificate?",
            "Why is VAT charged although we provided our EU VAT id?",
        ),
        ("Applied the tax exemption.",),
    ),
    _Topic(
        "accounting-integration",
        "integrations",
        ("QuickBooks integration?", "Xero connector question", "Sync with our ERP"),
        (
            "Do you have an integration with QuickBooks Online?",
            "We use Xero, can invoices be pushed automatically?",
        ),
        ("Explained the available connectors.",),
    ),
    _Topic(
        "one-off-error",
        None,
        ("Strange error yesterday", "Got an error once", "Page showed an error"),
        (
            "Yesterday we got a one-time error code {hex} while saving settings, today it works.",
            "The page showed 'unexpected error' once. Just letting you know.",
            "A colleague saw an error when uploading a logo, it worked on the second try.",
        ),
        ("Could not reproduce; closed after confirmation.",),
    ),
    _Topic(
        "slow-once",
        None,
        ("Slow today?", "Is there an outage?", "Site was slow this morning"),
        (
            "Everything was really slow this morning around 9, is there an incident?",
            "Is there a status page we can subscribe to?",
        ),
        ("No incident found; shared the status page.",),
    ),
    _Topic(
        "invite",
        None,
        ("Invite email not arriving", "Can't invite colleague", "User invitation expired"),
        (
            "I invited {email} but the invitation email never arrived.",
            "The invitation link says it has expired.",
        ),
        ("Resent the invitation.",),
    ),
    _Topic(
        "checkout-howto",
        "checkout",
        ("How to set up free shipping", "Create a discount code", "Add PayPal"),
        (
            "How can I offer free shipping above 50 EUR?",
            "How do I create a discount code that only works once per customer?",
            "Can we add PayPal as a payment method at checkout?",
        ),
        ("Sent the relevant help center article.",),
    ),
)

_GREETINGS = (
    "Hi,",
    "Hello team,",
    "Hi support,",
    "Dear Acme support,",
    "Hey there,",
    "Good morning,",
    "Hi all,",
    "Hello,",
    "Hi {first},",
)
_CONTEXT = (
    "This started {when}.",
    "It affects about {n} of our users.",
    "Order {order} is one example.",
    "We first noticed it {when}.",
    "It happens in Chrome and Safari.",
    "Nothing changed on our side.",
    "Our team tried it on two different machines.",
    "It worked fine last week.",
    "We have around {n} cases so far.",
    "Happens for every second attempt or so.",
    "Our account id is {account}.",
    "We tried clearing the cache already.",
)
_WHEN = (
    "this morning",
    "yesterday",
    "after the weekend",
    "two days ago",
    "last night",
    "on Monday",
    "today around noon",
    "a few hours ago",
    "since the update",
)
_VERSION_LINES = (
    "We are on {product} {version}.",
    "Version: {version}",
    "(running {version})",
    "Our installed version is {version}.",
)
_ERROR_LINES = (
    'The error says: "{err}"',
    "Error message: {err}",
    "we get {err}",
    "The console shows `{err}`",
    "Screen says {err}",
    "Error: {err}",
)
_URGENT = (
    "This is blocking our business, please treat it as urgent!",
    "We are losing revenue every hour this is not fixed.",
    "Please escalate, our management is asking.",
    "Urgent please, this affects all our customers.",
)
_CLOSING = (
    "Can you please look into this?",
    "Please advise.",
    "Any idea what is going on?",
    "Thanks in advance for your help.",
    "Let me know if you need more info.",
)
_SIGN_OFFS = ("Thanks,", "Best regards,", "Kind regards,", "Regards,", "Cheers,", "Thank you,")
_JOB_TITLES = (
    "Head of Operations",
    "IT Manager",
    "Finance Lead",
    "CTO",
    "Support Engineer",
    "E-commerce Manager",
    "Office Manager",
    "Developer",
)
_AGENT_REPLIES = (
    "Thanks for the details, we are looking into it.",
    "Our engineering team is aware of this issue and working on a fix.",
    "Could you confirm which version you are running?",
    "Could you send us a screenshot and the exact time it happened?",
    "We have applied a workaround on your account, please try again.",
    "Following up: is this still happening on your side?",
)
_CUSTOMER_REPLIES = (
    "Still happening on our side.",
    "Thanks, that helped.",
    "Yes, it happened again this morning.",
    "Works now, thank you!",
)
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "customers": ("customers", "clients", "users"),
    "error": ("error", "error message", "failure"),
    "fails": ("fails", "breaks", "is failing"),
    "app": ("app", "application"),
    "several": ("several", "many", "a bunch of", "multiple"),
    "cannot": ("cannot", "can't", "cant", "are not able to"),
    "anymore": ("anymore", "any more", "no longer"),
    "problem": ("problem", "issue", "bug"),
    "since": ("since", "ever since"),
    "please": ("please", "pls", "kindly"),
    "orders": ("orders", "purchases"),
    "shoppers": ("shoppers", "customers", "buyers"),
    "works": ("works", "is fine"),
}
_SYNONYM_PATTERN = re.compile(r"\b(" + "|".join(_SYNONYMS) + r")\b")
_COMPANY_A = (
    "Northwind",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Acorn",
    "Bluebird",
    "Cobalt",
    "Delta",
    "Evergreen",
    "Falcon",
    "Granite",
    "Harbor",
    "Ironwood",
    "Juniper",
    "Keystone",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Orchid",
    "Pioneer",
    "Quartz",
    "Redwood",
    "Summit",
    "Tidal",
    "Vertex",
    "Willow",
    "Zephyr",
    "Alpine",
    "Beacon",
    "Copper",
    "Driftwood",
    "Ember",
    "Fjord",
    "Golden",
    "Hollow",
    "Indigo",
    "Jade",
)
_COMPANY_B = (
    "Logistics",
    "Retail",
    "Foods",
    "Health",
    "Labs",
    "Media",
    "Outfitters",
    "Travel",
    "Motors",
    "Software",
    "Pharma",
    "Apparel",
    "Energy",
    "Finance",
    "Studios",
    "Supply",
    "Books",
    "Garden",
    "Sports",
    "Coffee",
)
_COMPANY_SUFFIX = ("Inc.", "GmbH", "Ltd", "LLC", "SA", "BV", "AB", "Pty Ltd", "")
_TLDS = ("com", "de", "co.uk", "io", "fr", "nl", "se", "com.au")
_REGIONS = ("us", "eu", "uk", "apac")
_FIRST = (
    "Anna",
    "Ben",
    "Carla",
    "David",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kate",
    "Liam",
    "Maria",
    "Noah",
    "Olga",
    "Pedro",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tom",
    "Uma",
    "Victor",
    "Wei",
    "Yusuf",
    "Zoe",
    "Lukas",
    "Sofia",
    "Mateo",
    "Aisha",
)
_LAST = (
    "Smith",
    "Müller",
    "Garcia",
    "Nguyen",
    "Kowalski",
    "Rossi",
    "Johnson",
    "Schmidt",
    "Dubois",
    "Tanaka",
    "Silva",
    "Andersson",
    "Novak",
    "Brown",
    "Fischer",
    "Okafor",
    "Jansen",
    "Kaur",
    "Lopez",
    "Weber",
    "Moreau",
    "Ivanova",
    "Kim",
    "Patel",
)
_COUPONS = ("WELCOME10", "SPRING25", "FREESHIP", "VIP2026", "BLACKFRIDAY", "SAVE15", "LOYAL5")
_BROWSER_CHANNEL = ("email", "web", "chat", "phone", "api")
_CHANNEL_WEIGHTS = (40, 30, 18, 8, 4)
_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 10, 9, 10, 10, 9, 8, 6, 4, 3, 2, 2, 1, 1)
_HOUR_CUM = tuple(itertools.accumulate(_HOUR_WEIGHTS))
_WEEKDAY_FACTOR = (1.0, 1.0, 1.0, 1.0, 0.95, 0.3, 0.25)
_SERVICES = {
    "billing": "billing-api",
    "checkout": "checkout-api",
    "mobile": "mobile-gw",
    "integrations": "integrations-api",
    "reporting": "reporting-svc",
}
_DISTRACTORS = (
    (
        "billing",
        "Subscriptions",
        "Flaky test SubscriptionRenewalIT on CI",
        "SubscriptionRenewalIT fails about 1 in 20 runs on CI with a timing assertion. Not seen in "
        "production.",
    ),
    (
        "checkout",
        "Coupons",
        "Coupon admin list sorts by creation date instead of expiry",
        "In the coupon admin page the 'Expiry' column sort uses createdAt. Cosmetic, admin only.",
    ),
    (
        "checkout",
        "Cart",
        "Upgrade jackson-databind to 2.17.1 in cart service",
        "Dependency update flagged by the security scanner; no known exploit path.",
    ),
    (
        "mobile",
        "Android App",
        "Splash screen still shows the 2024 logo on Android 14",
        "The adaptive icon background uses the old asset on Android 14 devices.",
    ),
    (
        "integrations",
        "Webhooks",
        "Remove deprecated v1 webhook endpoints",
        "Clean-up: v1 webhook registration endpoints have had no traffic for 90 days.",
    ),
    (
        "reporting",
        "Dashboards",
        "Chart legend overlaps axis labels on narrow screens",
        "Below 480 px width the legend renders over the x-axis labels.",
    ),
    (
        "integrations",
        "REST API",
        "OpenAPI spec lists wrong type for order.total",
        "order.total is documented as integer but is a decimal string.",
    ),
    (
        "billing",
        "Invoices",
        "Invoice template footer misaligned in Safari print preview",
        "Print preview in Safari shifts the footer by one line. PDF output is fine.",
    ),
)


# ---------------------------------------------------------------------------------------
# Generated state.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """A generated stream and what is true about it.

    Attributes
    ----------
    events
        JSON-ready payloads, each accepted by `problems.events.parse_event`, sorted by
        event time (ties broken by event kind, then id).
    ground_truth
        Root cause per ticket, root causes with their defect and true impact, the planted
        spike, fix and regression, and the generation arguments.
    """

    events: list[dict[str, Any]]
    ground_truth: dict[str, Any]


@dataclass
class _Release:
    product: str
    index: int
    name: str
    released_on: date
    id: str
    project_id: int

    def payload(self, released: bool) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "releaseDate": self.released_on.isoformat(),
            "released": released,
            "archived": False,
            "projectId": self.project_id,
        }


@dataclass
class _Customer:
    account_id: str
    name: str
    tier: str
    arr: float
    domain: str
    contacts: list[tuple[str, str]]
    products: tuple[str, ...]
    lag_days: float
    weight: float


@dataclass
class _Plan:
    cause: _Cause
    pattern: str
    n_tickets: int = 0
    has_defect: bool = False
    introduced: _Release | None = None
    fixed: _Release | None = None
    returned: _Release | None = None


@dataclass
class _Ticket:
    cause: str
    topic: int
    opened_at: datetime
    customer: _Customer
    product: str
    component: str | None
    release: _Release | None
    severity: str
    order: int
    phase: int = 0
    ticket_id: str = ""
    jira_field: str | None = None
    jira_text: str | None = None


@dataclass
class _Defect:
    cause: _Cause | None
    product: _Product
    component: str
    summary: str
    body: str
    priority: str
    created: datetime
    affected: list[_Release]
    fix: _Release | None = None
    in_progress_at: datetime | None = None
    resolved_at: datetime | None = None
    adf: bool = False
    labels: list[str] = field(default_factory=list)
    key: str = ""
    id: str = ""


# ---------------------------------------------------------------------------------------
# Small helpers.
# ---------------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _jira_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _millis(moment: datetime) -> int:
    return int((moment - _EPOCH).total_seconds() * 1000)


def _iso_week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def _workday(day: date) -> date:
    """Nobody ships on a weekend: Saturday moves to Friday, Sunday to Monday."""
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


def _fill(template: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), template)


def _typo(word: str, rng: Random) -> str:
    position = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:position] + word[position + 1] + word[position] + word[position + 2 :]
    if kind == 1:
        return word[:position] + word[position + 1 :]
    if kind == 2:
        return word[:position] + word[position] + word[position:]
    return word[:position] + rng.choice("aeiorstn") + word[position + 1 :]


def _voice(text: str, rng: Random, typo_rate: float, lower: bool) -> str:
    """Make a template sound like a person wrote it: synonyms, typos, lazy casing."""
    text = _SYNONYM_PATTERN.sub(
        lambda match: (
            rng.choice(_SYNONYMS[match.group(1)]) if rng.random() < 0.5 else match.group(1)
        ),
        text,
    )
    if typo_rate > 0:
        words = text.split(" ")
        for index, word in enumerate(words):
            if len(word) >= 5 and word.isalpha() and rng.random() < typo_rate:
                words[index] = _typo(word, rng)
        text = " ".join(words)
    return text.lower() if lower else text


def _mailbox(text: str) -> str:
    """Email local parts stay ASCII, as most mail systems make them."""
    folded = text.lower()
    for letter, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        folded = folded.replace(letter, plain)
    return folded


def _hex(rng: Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _token(rng: Random, length: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(rng.choice(alphabet) for _ in range(length))


def _phone(rng: Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return f"+1 ({rng.randint(201, 989)}) 555-{rng.randint(100, 9999):04d}"
    if kind == 1:
        return f"+49 {rng.randint(30, 89)} {rng.randint(1000000, 99999999)}"
    if kind == 2:
        return f"+44 20 {rng.randint(7000, 7999)} {rng.randint(1000, 9999)}"
    return f"0{rng.randint(20, 99)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"


def _ipv4(rng: Random) -> str:
    return f"{rng.choice((23, 52, 81, 94, 145, 185, 203))}.{rng.randint(0, 255)}." + (
        f"{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    )


def _ipv6(rng: Random) -> str:
    groups = [f"{rng.getrandbits(16):x}" for _ in range(4)]
    return "2001:db8:" + ":".join(groups[:2]) + "::" + ":".join(groups[2:])


def _cumulative(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


# ---------------------------------------------------------------------------------------
# The generator.
# ---------------------------------------------------------------------------------------


class _Generator:
    """One run of the generator; every random draw goes through ``self.rng``."""

    def __init__(self, seed: int, n_tickets: int, start: date, weeks: int, n_customers: int):
        self.rng = Random(seed)
        self.seed = seed
        self.n_tickets = n_tickets
        self.start = start
        self.weeks = weeks
        self.n_days = weeks * 7
        self.end = start + timedelta(days=self.n_days)
        self.n_customers = n_customers
        self.releases: dict[str, list[_Release]] = {}
        self.release_dates: dict[str, list[date]] = {}
        self.customers: list[_Customer] = []
        self.plans: list[_Plan] = []
        self.tickets: list[_Ticket] = []
        self.defects: list[_Defect] = []
        self.defect_by_cause: dict[str, _Defect] = {}

    # -- the world ---------------------------------------------------------------------

    def build_releases(self) -> None:
        rng = self.rng
        next_id = 10_000 + rng.randrange(1000)
        for product in _PRODUCTS:
            train: list[_Release] = []
            major, minor, patch = product.major, product.minor, 0
            nominal = self.start - timedelta(days=42 - product.offset_days)
            step = 0
            while (day := _workday(nominal + timedelta(days=rng.choice((-1, 0, 0, 1))))) < self.end:
                if step > 0:
                    if step % 2 == 0:
                        minor, patch = minor + 1, 0
                    else:
                        patch += 1
                name = f"{major}.{minor}.{patch}"
                next_id += rng.randint(1, 7)
                train.append(
                    _Release(product.name, len(train), name, day, str(next_id), product.project_id)
                )
                if patch == 0 and step > 0 and rng.random() < 0.3:
                    hotfix_day = _workday(day + timedelta(days=rng.randint(2, 4)))
                    if hotfix_day < self.end:
                        next_id += 1
                        train.append(
                            _Release(
                                product.name,
                                len(train),
                                f"{name}-hotfix1",
                                hotfix_day,
                                str(next_id),
                                product.project_id,
                            )
                        )
                step += 1
                nominal += timedelta(days=14)
            self.releases[product.name] = train
            self.release_dates[product.name] = [release.released_on for release in train]

    def build_customers(self) -> None:
        rng = self.rng
        used: set[str] = set()
        for number in range(self.n_customers):
            tier = rng.choices(_TIERS, weights=(8, 22, 40, 30))[0]
            if tier == "enterprise":
                arr = rng.lognormvariate(math.log(150_000), 0.9)
                if rng.random() < 0.2:
                    arr *= rng.paretovariate(1.2)
            elif tier == "business":
                arr = rng.lognormvariate(math.log(45_000), 0.6)
            elif tier == "pro":
                arr = rng.lognormvariate(math.log(7_000), 0.5)
            else:
                arr = 0.0
            arr = float(round(arr, -2))
            first_word, second_word = rng.choice(_COMPANY_A), rng.choice(_COMPANY_B)
            name = f"{first_word} {second_word} {rng.choice(_COMPANY_SUFFIX)}".strip()
            while name in used:
                name = f"{first_word} {second_word} {rng.choice(_REGIONS).upper()} {number}"
            used.add(name)
            domain = f"{first_word}{second_word}".lower() + "." + rng.choice(_TLDS)
            contacts = [(rng.choice(_FIRST), rng.choice(_LAST)) for _ in range(rng.randint(1, 3))]
            extra = {"enterprise": 0.25, "business": 0.1, "pro": 0.0, "free": -0.2}[tier]
            products = tuple(p.name for p in _PRODUCTS if rng.random() < p.share + extra)
            if not products:
                products = (rng.choice(_PRODUCTS).name,)
            mean_lag = {"enterprise": 16.0, "business": 9.0, "pro": 5.0, "free": 3.0}[tier]
            lag = min(60.0, rng.expovariate(1 / mean_lag))
            base = {"enterprise": 5.0, "business": 2.5, "pro": 1.2, "free": 0.5}[tier]
            weight = base * math.sqrt(1 + arr / 50_000) * rng.lognormvariate(0, 0.5)
            self.customers.append(
                _Customer(
                    f"acct_{100000 + number * 7 + rng.randrange(7)}",
                    name,
                    tier,
                    arr,
                    domain,
                    contacts,
                    products,
                    lag,
                    weight,
                )
            )

    def nearest_release(self, product: str, fraction: float, hotfix: bool = False) -> _Release:
        target = self.start + timedelta(days=fraction * self.n_days)
        candidates = [
            release
            for release in self.releases[product]
            if self.start <= release.released_on < self.end
            and (hotfix or "hotfix" not in release.name)
        ]
        return min(candidates, key=lambda r: (abs((r.released_on - target).days), r.index))

    def build_plans(self) -> None:
        rng = self.rng
        others = [
            cause
            for cause in _CAUSES
            if cause.id not in (_SPIKE_CAUSE, _FIXED_CAUSE, _REGRESSION_CAUSE)
        ]
        rng.shuffle(others)
        by_id = {cause.id: cause for cause in _CAUSES}
        ranked = list(others)
        ranked.insert(2, by_id[_SPIKE_CAUSE])
        ranked.insert(3, by_id[_REGRESSION_CAUSE])
        ranked.insert(5, by_id[_FIXED_CAUSE])
        n_with_defect = round(len(_CAUSES) * 2 / 3) - 3
        with_defect = {cause.id for cause in rng.sample(others, n_with_defect)}
        n_fixed_others = 2
        spike_release = self.nearest_release(_SPIKE_CAUSE_PRODUCT, 0.4)
        for rank, cause in enumerate(ranked):
            plan = _Plan(cause, "steady", has_defect=cause.id in with_defect)
            if cause.id == _SPIKE_CAUSE:
                plan.pattern, plan.has_defect = "spike", True
                plan.introduced = spike_release
            elif cause.id == _FIXED_CAUSE:
                plan.pattern, plan.has_defect = "fixed", True
                plan.fixed = self.nearest_release(cause.product, 0.55)
            elif cause.id == _REGRESSION_CAUSE:
                plan.pattern, plan.has_defect = "regression", True
                plan.fixed = self.nearest_release(cause.product, 0.3)
                plan.returned = next(
                    release
                    for release in self.releases[cause.product]
                    if release.released_on >= plan.fixed.released_on + timedelta(days=21)
                    and "hotfix" not in release.name
                )
            elif rank > 0 and plan.has_defect and n_fixed_others > 0 and rng.random() < 0.25:
                n_fixed_others -= 1
                plan.pattern = "fixed"
                plan.fixed = self.nearest_release(cause.product, rng.uniform(0.35, 0.8))
            elif rank > 0 and rng.random() < 0.3:
                # Never the spike's release: the planted spike must stay the only cause
                # that a single release brings in at that date.
                plan.pattern = "introduced"
                plan.introduced = self.nearest_release(cause.product, rng.uniform(0.1, 0.6))
                if plan.introduced.released_on == spike_release.released_on:
                    plan.introduced = self.releases[cause.product][plan.introduced.index - 1]
            self.plans.append(plan)
        # Long tail: a few causes with hundreds of tickets, many with a few dozen.
        n_cause_tickets = self.n_tickets - round(0.2 * self.n_tickets)
        floors = [
            6 if plan.pattern in ("spike", "fixed", "regression") else 2 for plan in self.plans
        ]
        spare = n_cause_tickets - sum(floors)
        weights = [1 / (rank + 1) for rank in range(len(self.plans))]
        total = sum(weights)
        shares = [spare * weight / total for weight in weights]
        counts = [floor + int(share) for floor, share in zip(floors, shares, strict=True)]
        remainders = sorted(range(len(shares)), key=lambda i: (-(shares[i] % 1), i))
        for index in remainders[: n_cause_tickets - sum(counts)]:
            counts[index] += 1
        for plan, count in zip(self.plans, counts, strict=True):
            plan.n_tickets = count

    # -- tickets -----------------------------------------------------------------------

    def day_of(self, release: _Release) -> int:
        return (release.released_on - self.start).days

    def profile(self, plan: _Plan) -> list[tuple[list[float], int, int, int, int]]:
        """Per phase: day weights, ticket count, allowed release indexes [lo, hi), phase."""
        n_days, rng = self.n_days, self.rng
        no_limit = 1_000_000
        if plan.pattern == "spike":
            assert plan.introduced is not None
            first = self.day_of(plan.introduced) + 1
            # Steep rise within days, a peak, then a high plateau as workarounds spread.
            weights = [
                0.0
                if d < first
                else min(1.0, (d - first + 1) / 3) * (1 + 0.8 * math.exp(-(d - first) / 14))
                for d in range(n_days)
            ]
            return [(weights, plan.n_tickets, plan.introduced.index, no_limit, 0)]
        if plan.pattern == "introduced":
            assert plan.introduced is not None
            first = self.day_of(plan.introduced) + 1
            weights = [0.0 if d < first else min(1.0, (d - first + 1) / 10) for d in range(n_days)]
            return [(weights, plan.n_tickets, plan.introduced.index, no_limit, 0)]
        if plan.pattern in ("fixed", "regression"):
            assert plan.fixed is not None
            fix_day = self.day_of(plan.fixed)
            before = [
                1.0 if d < fix_day else max(0.0, 1 - (d - fix_day + 1) / 7) for d in range(n_days)
            ]
            if plan.pattern == "fixed":
                return [(before, plan.n_tickets, 0, plan.fixed.index, 0)]
            assert plan.returned is not None
            back = self.day_of(plan.returned) + rng.randint(2, 6)
            after = [0.0 if d < back else min(1.0, (d - back + 1) / 7) for d in range(n_days)]
            n_before = round(plan.n_tickets * 0.5)
            return [
                (before, n_before, 0, plan.fixed.index, 0),
                (after, plan.n_tickets - n_before, plan.returned.index, no_limit, 1),
            ]
        trend = rng.uniform(-1.2, 1.2)
        weights = [max(0.05, 1 + trend * (d / n_days - 0.5)) for d in range(n_days)]
        return [(weights, plan.n_tickets, 0, no_limit, 0)]

    def installed(self, customer: _Customer, product: str, moment: datetime) -> int:
        upgraded_until = (moment - timedelta(days=customer.lag_days)).date()
        return max(0, bisect.bisect_right(self.release_dates[product], upgraded_until) - 1)

    def customer_weights(self, product: str | None, tiers: Sequence[float]) -> list[float]:
        weights = [
            customer.weight
            * tiers[_TIERS.index(customer.tier)]
            * (1.0 if product is None or product in customer.products else 0.0)
            for customer in self.customers
        ]
        if sum(weights) <= 0:
            weights = [customer.weight for customer in self.customers]
        return _cumulative(weights)

    def sample_moments(self, day_weights: list[float], count: int) -> list[datetime]:
        rng = self.rng
        weighted = [
            weight * _WEEKDAY_FACTOR[(self.start + timedelta(days=d)).weekday()]
            for d, weight in enumerate(day_weights)
        ]
        days = rng.choices(range(self.n_days), cum_weights=_cumulative(weighted), k=count)
        hours = rng.choices(range(24), cum_weights=_HOUR_CUM, k=count)
        return [
            _at(self.start + timedelta(days=day), hour) + timedelta(seconds=rng.randrange(3600))
            for day, hour in zip(days, hours, strict=True)
        ]

    def build_tickets(self) -> None:
        rng = self.rng
        order = itertools.count()
        for plan in self.plans:
            cause = plan.cause
            cum = self.customer_weights(cause.product, cause.tiers)
            releases = self.releases[cause.product]
            for day_weights, count, lowest, highest, phase in self.profile(plan):
                if count <= 0:
                    continue
                for moment in self.sample_moments(day_weights, count):
                    for _attempt in range(6):
                        customer = rng.choices(self.customers, cum_weights=cum)[0]
                        index = self.installed(customer, cause.product, moment)
                        if lowest <= index < highest:
                            break
                    # Not upgraded yet / upgraded early: a customer outside the window.
                    index = max(lowest, min(index, highest - 1, len(releases) - 1))
                    severity = rng.choices(_SEVERITIES, weights=cause.severity)[0]
                    self.tickets.append(
                        _Ticket(
                            cause.id,
                            -1,
                            moment,
                            customer,
                            cause.product,
                            cause.component,
                            releases[index],
                            severity,
                            next(order),
                            phase,
                        )
                    )
        n_noise = self.n_tickets - len(self.tickets)
        noise_cum = self.customer_weights(None, (0.8, 1.0, 1.2, 1.5))
        for moment in self.sample_moments([1.0] * self.n_days, n_noise):
            topic_index = rng.randrange(len(_TOPICS))
            topic = _TOPICS[topic_index]
            customer = rng.choices(self.customers, cum_weights=noise_cum)[0]
            product = topic.product or rng.choice(customer.products)
            components = _PRODUCT_BY_NAME[product].components
            component = rng.choice(components) if rng.random() < 0.6 else None
            release: _Release | None = None
            if rng.random() < 0.93:
                release = self.releases[product][self.installed(customer, product, moment)]
            severity = rng.choices(_SEVERITIES, weights=(0.01, 0.09, 0.4, 0.5))[0]
            self.tickets.append(
                _Ticket(
                    "noise",
                    topic_index,
                    moment,
                    customer,
                    product,
                    component,
                    release,
                    severity,
                    next(order),
                )
            )
        self.tickets.sort(key=lambda ticket: (ticket.opened_at, ticket.order))
        for number, ticket in enumerate(self.tickets):
            ticket.ticket_id = f"TCK-{100001 + number}"

    # -- Jira defects ------------------------------------------------------------------

    def build_defects(self) -> None:
        rng = self.rng
        by_cause: dict[str, list[_Ticket]] = {}
        for ticket in self.tickets:
            by_cause.setdefault(ticket.cause, []).append(ticket)
        clock_end = _at(self.end, 0)
        for plan in self.plans:
            if not plan.has_defect:
                continue
            cause, tickets = plan.cause, by_cause.get(plan.cause.id, [])
            product = _PRODUCT_BY_NAME[cause.product]
            kth = tickets[min(len(tickets) - 1, rng.randint(2, 8))].opened_at if tickets else None
            if kth is not None and rng.random() < 0.75:
                created = kth + timedelta(hours=rng.randint(6, 96))
            else:
                first = tickets[0].opened_at if tickets else _at(self.start, 9)
                created = first - timedelta(days=rng.randint(2, 10), hours=rng.randint(0, 8))
            if plan.pattern == "spike" and plan.introduced is not None:
                created = max(_at(plan.introduced.released_on, 9) + timedelta(days=1), created)
            if plan.fixed is not None:
                latest = _at(plan.fixed.released_on, 9) - timedelta(days=10)
                created = min(created, latest)
            created = min(created, clock_end - timedelta(days=3))
            at_created = self.releases[cause.product][
                max(
                    0,
                    bisect.bisect_right(self.release_dates[cause.product], created.date() - _DAY)
                    - 1,
                )
            ]
            affected = [plan.introduced] if plan.introduced is not None else [at_created]
            severity = max(range(4), key=lambda i: (cause.severity[i], -i))
            priority = ("Highest", "High", "Medium", "Low")[severity]
            if plan.pattern == "spike":
                priority = "Highest"
            defect = _Defect(
                cause,
                product,
                cause.component,
                cause.jira_summary,
                cause.jira_body,
                priority,
                created,
                affected,
            )
            if plan.fixed is not None:
                defect.fix = plan.fixed
                span = _at(plan.fixed.released_on, 9) - created
                defect.in_progress_at = created + span * rng.uniform(0.2, 0.6)
                defect.resolved_at = _at(plan.fixed.released_on, 16, rng.randint(5, 55))
            elif rng.random() < 0.5 or plan.pattern == "spike":
                moment = created + timedelta(days=rng.uniform(0.3, 9))
                defect.in_progress_at = moment if moment < clock_end else None
            if rng.random() < 0.3:
                defect.labels.append("customer-reported")
            if plan.pattern == "spike":
                defect.labels.append("regression")
            self.defects.append(defect)
            self.defect_by_cause[cause.id] = defect
        for product_name, component, summary, body in _DISTRACTORS:
            product = _PRODUCT_BY_NAME[product_name]
            created = _at(
                self.start + timedelta(days=rng.randrange(self.n_days - 14)),
                rng.randint(8, 18),
                rng.randint(0, 59),
            )
            releases = self.releases[product_name]
            at_created = releases[
                max(
                    0,
                    bisect.bisect_right(self.release_dates[product_name], created.date() - _DAY)
                    - 1,
                )
            ]
            defect = _Defect(
                None,
                product,
                component,
                summary,
                body,
                rng.choice(("Low", "Medium", "Low", "Lowest")),
                created,
                [at_created],
            )
            later = [
                r
                for r in releases
                if r.released_on > created.date() + timedelta(days=7) and r.released_on < self.end
            ]
            if later and rng.random() < 0.5:
                defect.fix = later[0]
                defect.in_progress_at = created + timedelta(days=rng.uniform(1, 5))
                defect.resolved_at = _at(later[0].released_on, 16, rng.randint(5, 55))
            self.defects.append(defect)
        # Keys rise with creation time per project, with gaps for issues not in the stream.
        counters = {product.project_key: rng.randint(200, 1800) for product in _PRODUCTS}
        next_id = 50_000 + rng.randrange(5000)
        ordered = sorted(self.defects, key=lambda d: (d.created, d.summary))
        for number, defect in enumerate(ordered):
            counters[defect.product.project_key] += rng.randint(1, 9)
            next_id += rng.randint(1, 40)
            defect.key = f"{defect.product.project_key}-{counters[defect.product.project_key]}"
            defect.id = str(next_id)
            defect.adf = number % 5 == 2
        # A few tickets carry the defect key, in the field or only in the text.
        for cause_id, defect in self.defect_by_cause.items():
            share = rng.uniform(0.06, 0.12)
            for ticket in by_cause.get(cause_id, []):
                if ticket.opened_at < defect.created or rng.random() >= share:
                    continue
                mode = rng.random()
                if mode < 0.5:
                    ticket.jira_field = defect.key
                elif mode < 0.8:
                    ticket.jira_text = defect.key
                else:
                    ticket.jira_field = ticket.jira_text = defect.key

    # -- rendering ---------------------------------------------------------------------

    def contact_lines(self, customer: _Customer, first: str, last: str) -> list[str]:
        """Personal data as customers paste it, so that masking has work to do."""
        rng = self.rng
        lines: list[str] = []
        email = f"{_mailbox(first)}.{_mailbox(last)}@{customer.domain}"
        if rng.random() < 0.45:
            lines.append(
                rng.choice(
                    (
                        "You can reach me at {email} or {phone}.",
                        "Call me on {phone} if needed.",
                        "Please reply to {email}, not to the generic inbox.",
                        "My colleague {email2} sees the same.",
                    )
                )
                .replace("{email}", email)
                .replace("{phone}", _phone(rng))
                .replace("{email2}", f"{rng.choice(_FIRST).lower()}@{customer.domain}")
            )
        if rng.random() < 0.2:
            address = _ipv4(rng) if rng.random() < 0.75 else _ipv6(rng)
            lines.append(
                rng.choice(
                    ("Our server IP is {ip}.", "Requests come from {ip}.", "client_ip={ip}")
                ).replace("{ip}", address)
            )
        if rng.random() < 0.1:
            lines.append(
                rng.choice(
                    (
                        "We call the API with Authorization: Bearer "
                        f"eyJ{_token(rng, 20)}.{_token(rng, 30)}.{_token(rng, 20)}",
                        f"our key is sk_live_{_token(rng, 24)} in case you need it",
                        f"api_key={_token(rng, 32)}",
                    )
                )
            )
        if rng.random() < 0.04:
            lines.append(
                f"You can log in as admin@{customer.domain} with password="
                f"{rng.choice(_COMPANY_A)}{rng.randint(10, 99)}!"
            )
        if rng.random() < 0.015:
            lines.append(
                rng.choice(("card 4111 1111 1111 1111 was used", "tested with 5555 5555 5555 4444"))
            )
        return lines

    def log_lines(self, ticket: _Ticket, error: str) -> list[str]:
        rng = self.rng
        moment = ticket.opened_at - timedelta(minutes=rng.randint(1, 600))
        lines = []
        for _ in range(rng.randint(2, 4)):
            moment += timedelta(milliseconds=rng.randint(3, 4000))
            stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
            level = rng.choice(("ERROR", "ERROR", "WARN"))
            request = f"{_hex(rng, 8)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 12)}"
            lines.append(f"{stamp} {level} [{_SERVICES[ticket.product]}] req_id={request} {error}")
        return lines

    def quoted_reply(self, ticket: _Ticket, first: str) -> str:
        rng = self.rng
        earlier = ticket.opened_at - timedelta(days=rng.randint(1, 5), minutes=rng.randint(0, 600))
        header = (
            f"On {earlier.strftime('%a, %d %b %Y at %H:%M')}, Acme Support <support@acme.io> wrote:"
        )
        body = rng.choice(
            (
                (
                    "Hi {first},",
                    "thanks for reaching out. Could you send us the exact error message?",
                    "",
                    "Best,",
                    "Acme Support",
                ),
                (
                    "Hello {first},",
                    "we have not heard back from you. Is the problem solved?",
                    "Ticket reference: " + ticket.ticket_id,
                ),
            )
        )
        return "\n".join([header] + ["> " + line.replace("{first}", first) for line in body])

    def describe(self, ticket: _Ticket) -> tuple[str, str]:
        """Subject and description, as the customer wrote them."""
        rng = self.rng
        customer = ticket.customer
        first, last = rng.choice(customer.contacts)
        typo_rate = rng.choice((0.0, 0.0, 0.0, 0.01, 0.03, 0.06))
        lower = rng.random() < 0.08
        version = ticket.release.name if ticket.release else "the latest version"
        values = {
            "order": f"ORD-{rng.randint(100000, 999999)}",
            "invoice": f"INV-{ticket.opened_at.year}-{rng.randint(10000, 99999)}",
            "coupon": rng.choice(_COUPONS),
            "amount": f"{rng.choice('$€£')}{rng.randint(20, 3000)}.{rng.randint(0, 99):02d}",
            "hex": _hex(rng, 10),
            "sub": f"sub_{_hex(rng, 12)}",
            "version": version,
            "product": _PRODUCT_BY_NAME[ticket.product].label,
        }
        parts: list[str] = []
        if rng.random() < 0.6:
            parts.append(rng.choice(_GREETINGS).replace("{first}", "Acme team"))
        if ticket.cause == "noise":
            topic = _TOPICS[ticket.topic]
            values["err"] = ""
            subject = _fill(rng.choice(topic.subjects), values).replace(
                "{email}", f"{_mailbox(first)}@{customer.domain}"
            )
            body = _fill(rng.choice(topic.bodies), values).replace(
                "{email}",
                f"{_mailbox(rng.choice(_FIRST))}.{_mailbox(rng.choice(_LAST))}@{customer.domain}",
            )
            parts.append(_voice(body, rng, typo_rate, lower))
            if rng.random() < 0.3:
                parts.append(_voice(rng.choice(_CLOSING), rng, typo_rate, lower))
        else:
            cause = _CAUSE_BY_ID[ticket.cause]
            values["err"] = _fill(rng.choice(cause.errors), values)
            subject = _voice(_fill(rng.choice(cause.subjects), values), rng, typo_rate / 2, lower)
            symptoms = rng.sample(cause.symptoms, 2 if rng.random() < 0.3 else 1)
            parts.append(
                _voice(" ".join(_fill(s, values) for s in symptoms), rng, typo_rate, lower)
            )
            context = [
                rng.choice(_CONTEXT)
                .replace("{when}", rng.choice(_WHEN))
                .replace("{n}", str(rng.choice((3, 5, 10, 20, 50, 200))))
                .replace("{account}", customer.account_id)
                for _ in range(rng.randint(0, 2))
            ]
            if rng.random() < 0.4:
                context.append(_fill(rng.choice(_VERSION_LINES), values))
            if context:
                parts.append(_voice(_fill(" ".join(context), values), rng, typo_rate, lower))
            if rng.random() < 0.7:
                parts.append(_fill(rng.choice(_ERROR_LINES), values))
            if rng.random() < 0.3:
                if cause.trace and rng.random() < 0.6:
                    intro = rng.choice(
                        (
                            "Stack trace:",
                            "Here is the trace from our logs:",
                            "Pasting what we see:",
                            "",
                        )
                    )
                    lines = [_fill(line, values) for line in cause.trace]
                    parts.append((intro + "\n" if intro else "") + "\n".join(lines))
                else:
                    error = _fill(rng.choice(cause.errors), values)
                    parts.append("Log excerpt:\n" + "\n".join(self.log_lines(ticket, error)))
            if ticket.severity in ("critical", "high") and rng.random() < 0.5:
                parts.append(_voice(rng.choice(_URGENT), rng, typo_rate, lower))
            if rng.random() < 0.5:
                parts.append(_voice(rng.choice(_CLOSING), rng, typo_rate, lower))
        parts.extend(self.contact_lines(customer, first, last))
        if ticket.jira_text and rng.random() < 0.3:
            parts.append(f"Is this related to {ticket.jira_text} from your release notes?")
        if rng.random() < 0.55:
            signature = [rng.choice(_SIGN_OFFS), f"{first} {last}"]
            if rng.random() < 0.5:
                signature.append(f"{rng.choice(_JOB_TITLES)} | {customer.name}")
            if rng.random() < 0.4:
                signature.append(_phone(rng))
            parts.append("\n".join(signature))
        elif rng.random() < 0.15:
            parts.append("Sent from my iPhone")
        if rng.random() < 0.15:
            parts.append(self.quoted_reply(ticket, first))
        if rng.random() < 0.1:
            subject = "Re: " + subject
        elif ticket.severity == "critical" and rng.random() < 0.3:
            subject = "URGENT: " + subject
        return subject, "\n\n".join(parts)

    def resolution(self, ticket: _Ticket) -> str:
        rng = self.rng
        if ticket.cause == "noise":
            return rng.choice(_TOPICS[ticket.topic].resolution)
        cause = _CAUSE_BY_ID[ticket.cause]
        note = rng.choice(
            (
                f"Known issue with {cause.component}. Workaround: {cause.workaround}.",
                f"Reproduced. {cause.workaround.capitalize()}; escalated to engineering.",
                f"Customer affected by '{cause.title.lower()}'. {cause.workaround.capitalize()}.",
                f"Confirmed on {ticket.release.name if ticket.release else 'latest'}; "
                f"{cause.workaround}.",
                "Escalated to tier 2, closed after workaround was accepted.",
            )
        )
        if ticket.jira_text:
            note += rng.choice(
                (
                    f" Linked to {ticket.jira_text}.",
                    f" Tracked in {ticket.jira_text}.",
                    f" See {ticket.jira_text}.",
                )
            )
        return note

    def ticket_events(self, ticket: _Ticket) -> list[dict[str, Any]]:
        rng = self.rng
        subject, description = self.describe(ticket)
        median_hours = {"critical": 6.0, "high": 18.0, "medium": 36.0, "low": 60.0}[ticket.severity]
        if ticket.cause != "noise":
            median_hours *= 1.4
        hours = max(0.2, rng.lognormvariate(math.log(median_hours), 0.9))
        closed_at = ticket.opened_at + timedelta(seconds=round(hours * 3600))
        target = {"critical": 24.0, "high": 48.0, "medium": 96.0, "low": 168.0}[ticket.severity]
        target *= {"enterprise": 0.5, "business": 0.75, "pro": 1.0, "free": 2.0}[
            ticket.customer.tier
        ]
        sla_breached = hours > target
        handle = round(rng.lognormvariate(math.log(median_hours * 1.5 + 10), 0.7), 1)
        csat: int | None = None
        if rng.random() < 0.6:
            score = (
                4.4 - (1.3 if sla_breached else 0) - (0.4 if ticket.severity == "critical" else 0)
            )
            csat = max(1, min(5, round(score + rng.gauss(0, 0.8))))
        comments = [rng.choice(_AGENT_REPLIES) for _ in range(rng.randint(0, 2))]
        if comments and rng.random() < 0.5:
            comments.append(rng.choice(_CUSTOMER_REPLIES))
        if ticket.jira_text and rng.random() < 0.5:
            comments.append(f"Our engineers track this as {ticket.jira_text}; we will update you.")
        tags = [ticket.product]
        if ticket.cause != "noise":
            cause = _CAUSE_BY_ID[ticket.cause]
            tags.extend(tag for tag in cause.tags if rng.random() < 0.6)
            if rng.random() < 0.3:
                tags.append(rng.choice(("needs-eng", "bug", "workaround-given", "known-issue")))
        else:
            tags.append(rng.choice(("how-to", "account", "question", "billing-question")))
        if ticket.customer.tier == "enterprise" and rng.random() < 0.5:
            tags.append("vip")
        channel = rng.choices(_BROWSER_CHANNEL, weights=_CHANNEL_WEIGHTS)[0]
        if ticket.product == "mobile" and rng.random() < 0.3:
            channel = "in-app"
        customer = ticket.customer
        event: dict[str, Any] = {
            "event_type": "ticket.closed",
            "event_id": f"evt_{_hex(rng, 16)}",
            "ticket_id": ticket.ticket_id,
            "opened_at": _iso(ticket.opened_at),
            "closed_at": _iso(closed_at),
            "subject": subject,
            "description": description,
            "resolution_notes": self.resolution(ticket),
            "public_comments": comments,
            "customer": {
                "account_id": customer.account_id,
                "name": customer.name,
                "tier": customer.tier,
                "arr": customer.arr,
            },
            "product": ticket.product,
            "component": ticket.component,
            "version": ticket.release.name if ticket.release else None,
            "severity": ticket.severity,
            "channel": channel,
            "tags": tags,
            "jira_keys": [ticket.jira_field] if ticket.jira_field else [],
            "reopen_count": 0,
            "handle_time_minutes": handle,
            "sla_breached": sla_breached,
            "csat": csat,
        }
        if rng.random() < 0.01:
            event["x_brand"] = rng.choice(("acme-eu", "acme-us", "acme-apac"))
        if rng.random() < 0.005:
            event["x_sentiment"] = round(rng.uniform(-1, 1), 2)
        events = [event]
        if rng.random() < 0.05:
            again = json.loads(json.dumps(event))  # no payload shares lists with another
            again["event_id"] = f"evt_{_hex(rng, 16)}"
            again["closed_at"] = _iso(closed_at + timedelta(days=rng.uniform(1, 8)))
            again["reopen_count"] = 1
            again["public_comments"] = [
                *comments,
                "Customer reopened: the problem came back.",
                rng.choice(_AGENT_REPLIES),
            ]
            again["handle_time_minutes"] = round(handle + rng.uniform(10, 90), 1)
            if csat is not None:
                again["csat"] = max(1, csat - 1)
            events.append(again)
        return events

    def issue_payload(self, defect: _Defect, state: str, moment: datetime) -> dict[str, Any]:
        statuses = {
            "new": ("To Do", "new"),
            "indeterminate": ("In Progress", "indeterminate"),
            "done": ("Done", "done"),
        }
        status_name, category = statuses[state]
        fix_versions: list[dict[str, Any]] = []
        if defect.fix is not None and state != "new":
            fix_versions = [defect.fix.payload(released=state == "done")]
        description: Any = self.jira_description(defect)
        fields: dict[str, Any] = {
            "summary": defect.summary,
            "description": description,
            "status": {"name": status_name, "statusCategory": {"key": category}},
            "issuetype": {"name": "Bug"},
            "priority": {"name": defect.priority},
            "components": [{"name": defect.component}],
            "versions": [release.payload(released=True) for release in defect.affected],
            "fixVersions": fix_versions,
            "created": _jira_time(defect.created),
            "updated": _jira_time(moment),
            "resolutiondate": _jira_time(moment) if state == "done" else None,
            "resolution": {"name": "Fixed"} if state == "done" else None,
            "labels": list(defect.labels),
            "project": {"key": defect.product.project_key, "id": str(defect.product.project_id)},
        }
        return {"id": defect.id, "key": defect.key, "fields": fields}

    def jira_description(self, defect: _Defect) -> Any:
        cause = defect.cause
        if cause is None:
            return defect.body
        error = cause.errors[0].replace("{hex}", "<id>")
        versions = ", ".join(release.name for release in defect.affected)
        closing = f"Affects {defect.product.label} {versions} in production."
        if not defect.adf:
            logs = f"Seen in production logs:\n{{code}}\n{error}\n{{code}}"
            return f"{defect.body}\n\n{logs}\n\n{closing}"

        def paragraph(text: str) -> dict[str, Any]:
            return {"type": "paragraph", "content": [{"type": "text", "text": text}]}

        return {
            "type": "doc",
            "version": 1,
            "content": [
                paragraph(defect.body),
                {
                    "type": "codeBlock",
                    "attrs": {"language": "text"},
                    "content": [{"type": "text", "text": error}],
                },
                paragraph(closing),
            ],
        }

    def jira_events(self) -> list[tuple[datetime, dict[str, Any]]]:
        out: list[tuple[datetime, dict[str, Any]]] = []
        for defect in self.defects:
            steps = [("jira:issue_created", "new", defect.created)]
            if defect.in_progress_at is not None:
                steps.append(("jira:issue_updated", "indeterminate", defect.in_progress_at))
            if defect.resolved_at is not None:
                steps.append(("jira:issue_updated", "done", defect.resolved_at))
            for hook, state, when in steps:
                moment = when.replace(microsecond=0)
                payload = {
                    "webhookEvent": hook,
                    "timestamp": _millis(moment),
                    "issue": self.issue_payload(defect, state, moment),
                }
                out.append((moment, payload))
        return out

    def version_events(self) -> list[tuple[datetime, dict[str, Any]]]:
        rng = self.rng
        out: list[tuple[datetime, dict[str, Any]]] = []
        for product in _PRODUCTS:
            for release in self.releases[product.name]:
                planned = _at(
                    release.released_on - timedelta(days=rng.randint(10, 20)),
                    rng.randint(8, 11),
                    rng.randint(0, 59),
                )
                shipped = _at(release.released_on, rng.randint(14, 17), rng.randint(0, 59))
                for hook, moment, released in (
                    ("jira:version_created", planned, False),
                    ("jira:version_released", shipped, True),
                ):
                    out.append(
                        (
                            moment,
                            {
                                "webhookEvent": hook,
                                "timestamp": _millis(moment),
                                "version": release.payload(released),
                            },
                        )
                    )
        return out

    # -- assembly ----------------------------------------------------------------------

    def run(self) -> Sample:
        self.build_releases()
        self.build_customers()
        self.build_plans()
        self.build_tickets()
        self.build_defects()
        keyed: list[tuple[int, int, str, dict[str, Any]]] = []
        for moment, payload in self.version_events():
            keyed.append(
                (_millis(moment), 0, payload["version"]["id"] + payload["webhookEvent"], payload)
            )
        for moment, payload in self.jira_events():
            keyed.append((_millis(moment), 1, payload["issue"]["key"], payload))
        for ticket in self.tickets:
            for event in self.ticket_events(ticket):
                closed = datetime.fromisoformat(event["closed_at"])
                keyed.append((_millis(closed), 2, event["event_id"], event))
        keyed.sort(key=lambda item: item[:3])
        return Sample(events=[item[3] for item in keyed], ground_truth=self.ground_truth())

    def ground_truth(self) -> dict[str, Any]:
        by_cause: dict[str, list[_Ticket]] = {}
        for ticket in self.tickets:
            by_cause.setdefault(ticket.cause, []).append(ticket)
        root_causes: list[dict[str, Any]] = []
        for plan in self.plans:
            cause, tickets = plan.cause, by_cause.get(plan.cause.id, [])
            defect = self.defect_by_cause.get(cause.id)
            root_causes.append(
                {
                    "id": cause.id,
                    "title": cause.title,
                    "product": cause.product,
                    "component": cause.component,
                    "pattern": plan.pattern,
                    "defect_key": defect.key if defect else None,
                    "n_tickets": len(tickets),
                    "n_customers": len({t.customer.account_id for t in tickets}),
                    "true_impact": true_impact(
                        (t.customer.account_id, t.customer.tier, t.customer.arr, t.severity)
                        for t in tickets
                    ),
                    "introduced_in": plan.introduced.name if plan.introduced else None,
                    "fixed_in": plan.fixed.name if plan.fixed else None,
                    "first_opened": _iso(tickets[0].opened_at) if tickets else None,
                    "last_opened": _iso(tickets[-1].opened_at) if tickets else None,
                }
            )
        root_causes.sort(key=lambda entry: (-entry["true_impact"], entry["id"]))
        plans = {plan.cause.id: plan for plan in self.plans}
        spike, fixed, regression = (
            plans[_SPIKE_CAUSE],
            plans[_FIXED_CAUSE],
            plans[_REGRESSION_CAUSE],
        )
        assert spike.introduced and fixed.fixed and regression.fixed and regression.returned
        returned = [t for t in by_cause.get(_REGRESSION_CAUSE, []) if t.phase == 1]
        return {
            "seed": self.seed,
            "arguments": {
                "seed": self.seed,
                "n_tickets": self.n_tickets,
                "start": self.start.isoformat(),
                "weeks": self.weeks,
                "n_customers": self.n_customers,
            },
            "n_tickets": len(self.tickets),
            "n_noise": len(by_cause.get("noise", [])),
            "n_customers": len(self.customers),
            "products": {
                product.name: {
                    "project_key": product.project_key,
                    "project_id": str(product.project_id),
                    "components": list(product.components),
                }
                for product in _PRODUCTS
            },
            "releases": {
                name: [
                    {"id": r.id, "name": r.name, "release_date": r.released_on.isoformat()}
                    for r in releases
                ]
                for name, releases in self.releases.items()
            },
            "root_causes": root_causes,
            "tickets": {ticket.ticket_id: ticket.cause for ticket in self.tickets},
            "spike": {
                "root_cause": _SPIKE_CAUSE,
                "release": spike.introduced.name,
                "release_date": spike.introduced.released_on.isoformat(),
                "defect_key": self.defect_by_cause[_SPIKE_CAUSE].key,
            },
            "fixed": {
                "root_cause": _FIXED_CAUSE,
                "defect_key": self.defect_by_cause[_FIXED_CAUSE].key,
                "fix_version": fixed.fixed.name,
                "fix_date": fixed.fixed.released_on.isoformat(),
            },
            "regression": {
                "root_cause": _REGRESSION_CAUSE,
                "defect_key": self.defect_by_cause[_REGRESSION_CAUSE].key,
                "fix_version": regression.fixed.name,
                "fix_date": regression.fixed.released_on.isoformat(),
                "returned_in": regression.returned.name,
                "returned_week": _iso_week(min(t.opened_at for t in returned))
                if returned
                else None,
            },
            "links": {cause_id: defect.key for cause_id, defect in self.defect_by_cause.items()},
            "distractor_defects": [d.key for d in self.defects if d.cause is None],
            "impact_formula": IMPACT_FORMULA,
        }


def generate_sample(
    seed: int = 7,
    n_tickets: int = 3000,
    start: date = date(2026, 1, 5),
    weeks: int = 26,
    n_customers: int | None = None,
) -> Sample:
    """Generate a deterministic, realistic stream of ticket and Jira events.

    Parameters
    ----------
    seed
        Drives every random draw; the same arguments give the same events.
    n_tickets
        Distinct tickets (reopened tickets add a second close event). At least 100.
    start
        First day of the ticket period.
    weeks
        Length of the ticket period; at least 16 so the fix and the regression fit.
    n_customers
        Accounts; by default ``n_tickets * 2 / 15`` clipped to 30..4000 (400 for 3000).

    Returns
    -------
    Sample
        Events sorted by event time, and the ground truth.

    Examples
    --------
    >>> sample = generate_sample(seed=1, n_tickets=150, weeks=16)
    >>> sample.ground_truth["n_tickets"], len(sample.ground_truth["tickets"])
    (150, 150)
    """
    if n_tickets < 100:
        raise ValueError("n_tickets must be at least 100")
    if weeks < 16:
        raise ValueError("weeks must be at least 16")
    if n_customers is None:
        n_customers = max(30, min(4000, round(n_tickets * 2 / 15)))
    return _Generator(seed, n_tickets, start, weeks, n_customers).run()


def write_sample(
    out_dir: Path,
    seed: int = 7,
    n_tickets: int = 3000,
    start: date = date(2026, 1, 5),
    weeks: int = 26,
    n_customers: int | None = None,
) -> Path:
    """Write ``events.jsonl`` and ``ground_truth.json`` for `generate_sample` into ``out_dir``.

    ``events.jsonl`` holds one compact JSON object per line with sorted keys;
    ``ground_truth.json`` is indented with sorted keys. Both are byte-identical for the
    same arguments.

    Returns
    -------
    Path
        The path of ``events.jsonl``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_sample(Path(tmp), seed=2, n_tickets=120, weeks=16)
    ...     path.name, (path.parent / "ground_truth.json").exists()
    ('events.jsonl', True)
    """
    sample = generate_sample(seed, n_tickets, start, weeks, n_customers)
    out_dir.mkdir(parents=True, exist_ok=True)
    events_path = out_dir / "events.jsonl"
    with events_path.open("w", encoding="utf-8", newline="\n") as handle:
        for event in sample.events:
            handle.write(
                json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            )
            handle.write("\n")
    truth = json.dumps(sample.ground_truth, sort_keys=True, indent=2, ensure_ascii=False)
    (out_dir / "ground_truth.json").write_text(truth + "\n", encoding="utf-8", newline="\n")
    return events_path
