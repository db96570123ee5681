"""/t.js, the first-party click-id keeper a brand puts on its own site (docs/integrations.md).

On a landing page whose URL carries the click id (``click_id`` — what the tracking redirect
appends when the destination has no {CLICK_ID} — or ``trk_click_id``; ``data-param`` on the
script tag names others, comma-separated), it keeps the id in the brand's own localStorage and
a first-party cookie ``trk_click_id`` (``data-days``, default 90, so the brand's server can
read it when it creates a checkout), and exposes it as ``trk.clickId()`` for the checkout:
Stripe ``client_reference_id`` or ``metadata.trk_click_id``, Shopify's cart attribute
``trk_click_id``. Trcker sets no cookie: the script runs in the brand's page, on the brand's
domain. Only ids shaped like Trcker's are taken.

Kept to what every site needs (a few hundred bytes, ``tests/integrations/test_tracker_script``
holds the size): decorating Stripe Payment Links and setting Shopify's cart attribute are
copy-paste snippets in docs/integrations.md (``PAYMENT_LINKS_SNIPPET``, ``SHOPIFY_SNIPPET``
there, run by the same browser test), since most sites use one or neither, and Shopify also
reads the click id from the order's landing page URL without any script."""

from __future__ import annotations

import hashlib

SCRIPT = (
    b"((w,d,K)=>{var s=d.currentScript,R=/^clk_[A-Za-z0-9]{10,28}$/,"
    b"q=new URLSearchParams(location.search),v,a=(n,f)=>s&&s.getAttribute(n)||f;"
    b"if(a('data-param','click_id,'+K).split(',').some(p=>R.test(v=q.get(p.trim())))){"
    b"try{localStorage[K]=v}catch(e){}d.cookie=K+'='+v+';path=/;max-age='+a('data-days',90)*864e2"
    b"+';samesite=lax'+(location.protocol=='https:'?';secure':'')}"
    b"w.trk={clickId:()=>{var l,m=d.cookie.match(/(^|; )trk_click_id=([^;]*)/);"
    b"try{l=localStorage[K]}catch(e){}return R.test(l)?l:m&&R.test(m[2])?m[2]:null}}"
    b"})(window,document,'trk_click_id')\n"
)
SCRIPT_ETAG = '"' + hashlib.sha256(SCRIPT).hexdigest()[:20] + '"'
