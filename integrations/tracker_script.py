"""/t.js, the first-party click-id keeper a brand puts on its own site (docs/integrations.md).

On a landing page whose URL carries the click id (``click_id`` — what the tracking redirect
appends when the destination has no {CLICK_ID} — or ``trk_click_id``; ``data-param`` on the
script tag names others, comma-separated), it keeps the id in the brand's own localStorage and
a first-party cookie ``trk_click_id`` (``data-days``, default 90), and exposes it as
``trk.clickId()`` for the checkout: Stripe ``client_reference_id`` or
``metadata.trk_click_id``. It also adds ``client_reference_id`` to Stripe Payment Links on
the page, and on a Shopify store sets the cart attribute ``trk_click_id`` (once per session).
Trcker sets no cookie: the script runs in the brand's page, on the brand's domain."""

from __future__ import annotations

import hashlib

SCRIPT = (
    b"(function(w,d){var K='trk_click_id',s=d.currentScript,"
    b"a=function(n,f){return s&&s.getAttribute(n)||f},"
    b"P=a('data-param','click_id,trk_click_id').split(','),D=+a('data-days',90),"
    b"R=/^clk_[A-Za-z0-9]{10,28}$/,q=new URLSearchParams(location.search),v=0,i,x;"
    b"for(i=0;i<P.length&&!v;i++){x=q.get(P[i].trim());if(R.test(x))v=x}"
    b"function g(){var m=d.cookie.match(/(?:^|; )trk_click_id=(clk_[A-Za-z0-9]+)/),l;"
    b"try{l=localStorage.getItem(K)}catch(e){}return R.test(l)?l:m?m[1]:null}"
    b"if(v){try{localStorage.setItem(K,v)}catch(e){}d.cookie=K+'='+v+';path=/;max-age='"
    b"+D*864e2+';samesite=lax'+(location.protocol=='https:'?';secure':'')}"
    b"w.trk={clickId:g};v=g();if(!v)return;"
    b"function t(){[].forEach.call(d.querySelectorAll('a[href^=\"https://buy.stripe.com/\"]'),"
    b"function(e){var u=new URL(e.href);if(!u.searchParams.has('client_reference_id'))"
    b"{u.searchParams.set('client_reference_id',v);e.href=u}})}"
    b"d.readyState=='loading'?d.addEventListener('DOMContentLoaded',t):t();"
    b"try{if(w.Shopify&&w.fetch&&sessionStorage.getItem(K)!=v)fetch('/cart/update.js',"
    b"{method:'POST',headers:{'Content-Type':'application/json'},"
    b"body:JSON.stringify({attributes:{trk_click_id:v}})}).then(function(r)"
    b"{if(r.ok)sessionStorage.setItem(K,v)})}catch(e){}})(window,document);\n"
)
SCRIPT_ETAG = '"' + hashlib.sha256(SCRIPT).hexdigest()[:20] + '"'
