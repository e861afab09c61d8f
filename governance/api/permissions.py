from rest_framework.permissions import BasePermission


class IsTenantPrincipal(BasePermission):
    """Any authenticated machine token or logged-in user (tenancy is enforced by the queryset)."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated)


class IsReviewer(BasePermission):
    """Human acts: a logged-in user (session or personal token) with the reviewer permission."""

    message = "this is a human act: it needs a logged-in reviewer"

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and getattr(user, "pk", None) is not None
            and user.has_perm("governance.review")
        )


class IsMachineOrReviewer(BasePermission):
    """Changing a safety setting: a machine token may (the kernel applies a tightening and
    turns a loosening into a change request); a person needs the reviewer permission, so a
    viewer cannot even ask."""

    message = "changing a safety setting needs a machine token or a reviewer"

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user and user.is_authenticated and getattr(user, "pk", None) is None:
            return True  # a machine principal (a tenant's token without a user)
        return IsReviewer().has_permission(request, view)
