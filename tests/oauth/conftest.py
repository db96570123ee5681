from tests.oauth.op import oidc_op

__all__ = ["oidc_op"]
