from django.urls import path

from partners import apis

app_name = "partners"

urlpatterns = [
    path("partners/", apis.PartnerListCreateApi.as_view(), name="partner-list"),
    path("partners/<str:partner_id>/", apis.PartnerDetailApi.as_view(), name="partner-detail"),
    path(
        "partners/<str:partner_id>/approve/",
        apis.PartnerApproveApi.as_view(),
        name="partner-approve",
    ),
    path(
        "partners/<str:partner_id>/reject/", apis.PartnerRejectApi.as_view(), name="partner-reject"
    ),
    path("partners/<str:partner_id>/pause/", apis.PartnerPauseApi.as_view(), name="partner-pause"),
    path(
        "partners/<str:partner_id>/resume/", apis.PartnerResumeApi.as_view(), name="partner-resume"
    ),
    path("coupons/", apis.CouponListCreateApi.as_view(), name="coupon-list"),
    path("coupons/<str:code>/", apis.CouponDetailApi.as_view(), name="coupon-detail"),
    path("coupons/<str:code>/disable/", apis.CouponDisableApi.as_view(), name="coupon-disable"),
]
