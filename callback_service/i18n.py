"""Page texts in English, German and French, chosen from Accept-Language (pure).

Texts are looked up by their English template. Only templates listed here may
carry markup; their ``{placeholders}`` are filled with escaped values. Any other
text (it could hold a claim value) is escaped as a whole, so a missing entry can
cost a translation, never an injection.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

LANGUAGES = ("en", "de", "fr")


@dataclass(frozen=True)
class Text:
    """An English template and its parameters: ``str()`` gives the English text (for
    OpenVPN and logs), pages translate the template and escape the parameters."""

    template: str
    params: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        # without parameters the template is plain text (an admin's own deny reason)
        return self.template.format(**dict(self.params)) if self.params else self.template


def text(template: str, **params: str) -> Text:
    return Text(template, tuple(params.items()))

_DE: dict[str, str] = {
    "VPN login": "VPN-Anmeldung",
    "Invalid login link": "Ungültiger Anmeldelink",
    "Invalid login response": "Ungültige Antwort der Anmeldung",
    "Invalid request": "Ungültige Anfrage",
    "Login link expired": "Anmeldelink abgelaufen",
    "Login link already used": "Anmeldelink bereits verwendet",
    "Login not accepted": "Anmeldung nicht akzeptiert",
    "Login failed": "Anmeldung fehlgeschlagen",
    "Login not completed": "Anmeldung nicht abgeschlossen",
    "Identity provider unreachable": "Identitätsanbieter nicht erreichbar",
    "Access denied": "Zugriff verweigert",
    "Connection not approved": "Verbindung nicht bestätigt",
    "You are connected": "Sie sind verbunden",
    "VPN client no longer waiting": "VPN-Client wartet nicht mehr",
    "Temporarily unavailable": "Vorübergehend nicht verfügbar",
    "Not found": "Nicht gefunden",
    "Bad request": "Fehlerhafte Anfrage",
    "Slow down": "Zu viele Anfragen",
    "Approve this VPN connection?": "Diese VPN-Verbindung bestätigen?",
    "This login link has expired. Reconnect your VPN client to get a new one.":
        "Dieser Anmeldelink ist abgelaufen. Verbinden Sie Ihren VPN-Client neu, um einen neuen "
        "zu erhalten.",
    "This login link is unknown or has expired. Reconnect your VPN client to get a new one.":
        "Dieser Anmeldelink ist unbekannt oder abgelaufen. Verbinden Sie Ihren VPN-Client neu, "
        "um einen neuen zu erhalten.",
    "This login link was already used. Reconnect your VPN client to log in again.":
        "Dieser Anmeldelink wurde bereits verwendet. Verbinden Sie Ihren VPN-Client neu, um "
        "sich erneut anzumelden.",
    "The login must be finished in the browser where it started. Reconnect your VPN client "
    "to try again.":
        "Die Anmeldung muss in dem Browser abgeschlossen werden, in dem sie begonnen wurde. "
        "Verbinden Sie Ihren VPN-Client neu, um es erneut zu versuchen.",
    "The identity provider could not be reached. Try again in a minute.":
        "Der Identitätsanbieter ist nicht erreichbar. Versuchen Sie es in einer Minute erneut.",
    "Your VPN client stopped waiting for this login (it disconnected or timed out). Reconnect "
    "and log in again.":
        "Ihr VPN-Client wartet nicht mehr auf diese Anmeldung (getrennt oder Zeit "
        "abgelaufen). Verbinden Sie sich neu und melden Sie sich erneut an.",
    "Your login could not be passed to the VPN server. Reconnect your VPN client and try "
    "again; contact your administrator if this persists.":
        "Ihre Anmeldung konnte nicht an den VPN-Server übergeben werden. Verbinden Sie Ihren "
        "VPN-Client neu; wenden Sie sich an Ihre Administration, wenn das bestehen bleibt.",
    "The login service is temporarily unavailable. Try again in a minute.":
        "Der Anmeldedienst ist vorübergehend nicht verfügbar. Versuchen Sie es in einer Minute "
        "erneut.",
    "Something went wrong on the login service. Reconnect your VPN client to try again.":
        "Beim Anmeldedienst ist ein Fehler aufgetreten. Verbinden Sie Ihren VPN-Client neu, um "
        "es erneut zu versuchen.",
    "Too many requests from your address. Wait a minute and try again.":
        "Zu viele Anfragen von Ihrer Adresse. Warten Sie eine Minute und versuchen Sie es "
        "erneut.",
    "The identity provider did not accept this login. Reconnect your VPN client to try again.":
        "Der Identitätsanbieter hat diese Anmeldung nicht akzeptiert. Verbinden Sie Ihren "
        "VPN-Client neu, um es erneut zu versuchen.",
    "The login was cancelled or refused at the identity provider.":
        "Die Anmeldung wurde beim Identitätsanbieter abgebrochen oder abgelehnt.",
    "The identity provider returned an error ({code}).":
        "Der Identitätsanbieter hat einen Fehler gemeldet ({code}).",
    "The VPN connection was refused. If you did not start it, tell your administrator.":
        "Die VPN-Verbindung wurde abgelehnt. Wenn Sie sie nicht gestartet haben, informieren "
        "Sie Ihre Administration.",
    "Signed in as {user}. Your VPN connection to {server} is being established; you can close "
    "this window.":
        "Angemeldet als {user}. Ihre VPN-Verbindung zu {server} wird aufgebaut; Sie können "
        "dieses Fenster schließen.",
    "Access denied: {user} is not in any of the groups allowed on VPN server {server} "
    "({groups})":
        "Zugriff verweigert: {user} ist in keiner der Gruppen, die auf dem VPN-Server {server} "
        "zugelassen sind ({groups})",
    "Access denied: {user} matches none of the rules of VPN server {server}: {rules}":
        "Zugriff verweigert: {user} erfüllt keine der Regeln des VPN-Servers {server}: {rules}",
    "Access denied: {user} is refused on VPN server {server} ({rule})":
        "Zugriff verweigert: {user} ist auf dem VPN-Server {server} gesperrt ({rule})",
    "Your account has no '{claim}' at the identity provider, so it cannot be used for the "
    "VPN: contact your administrator":
        "Ihr Konto hat beim Identitätsanbieter kein '{claim}' und kann daher nicht für das VPN "
        "verwendet werden: wenden Sie sich an Ihre Administration",
    "This login belongs to a VPN connection whose {what} is not yours: use your own VPN "
    "profile (never a login link someone sent you)":
        "Diese Anmeldung gehört zu einer VPN-Verbindung, deren {what} nicht Ihnen gehört: "
        "verwenden Sie Ihr eigenes VPN-Profil (nie einen Anmeldelink, den Ihnen jemand "
        "geschickt hat)",
    "certificate": "Zertifikat",
    "username": "Benutzername",
    "Your identity provider account has no name to match this VPN connection":
        "Ihr Konto beim Identitätsanbieter hat keinen Namen, der zu dieser VPN-Verbindung passt",
    "This login was opened from another network than the VPN connection: open the link on "
    "the device that connects":
        "Diese Anmeldung wurde aus einem anderen Netz als die VPN-Verbindung geöffnet: öffnen "
        "Sie den Link auf dem Gerät, das sich verbindet",
    "You are signed in as <strong>{user}</strong>. Approve only if you just started this "
    "connection yourself.":
        "Sie sind angemeldet als <strong>{user}</strong>. Bestätigen Sie nur, wenn Sie diese "
        "Verbindung gerade selbst gestartet haben.",
    "VPN server": "VPN-Server",
    "Client address": "Client-Adresse",
    "Platform": "Plattform",
    "Client version": "Client-Version",
    "Started": "Gestartet",
    "unknown": "unbekannt",
    "Approve": "Bestätigen",
    "Deny": "Ablehnen",
    "There is nothing here.": "Hier gibt es nichts.",
    "This request could not be understood.": "Diese Anfrage konnte nicht verstanden werden.",
}

_FR: dict[str, str] = {
    "VPN login": "Connexion VPN",
    "Invalid login link": "Lien de connexion invalide",
    "Invalid login response": "Réponse de connexion invalide",
    "Invalid request": "Requête invalide",
    "Login link expired": "Lien de connexion expiré",
    "Login link already used": "Lien de connexion déjà utilisé",
    "Login not accepted": "Connexion refusée",
    "Login failed": "Échec de la connexion",
    "Login not completed": "Connexion non terminée",
    "Identity provider unreachable": "Fournisseur d'identité injoignable",
    "Access denied": "Accès refusé",
    "Connection not approved": "Connexion non approuvée",
    "You are connected": "Vous êtes connecté",
    "VPN client no longer waiting": "Le client VPN n'attend plus",
    "Temporarily unavailable": "Temporairement indisponible",
    "Not found": "Introuvable",
    "Bad request": "Requête incorrecte",
    "Slow down": "Trop de requêtes",
    "Approve this VPN connection?": "Approuver cette connexion VPN ?",
    "This login link has expired. Reconnect your VPN client to get a new one.":
        "Ce lien de connexion a expiré. Reconnectez votre client VPN pour en obtenir un "
        "nouveau.",
    "This login link is unknown or has expired. Reconnect your VPN client to get a new one.":
        "Ce lien de connexion est inconnu ou a expiré. Reconnectez votre client VPN pour en "
        "obtenir un nouveau.",
    "This login link was already used. Reconnect your VPN client to log in again.":
        "Ce lien de connexion a déjà été utilisé. Reconnectez votre client VPN pour vous "
        "connecter à nouveau.",
    "The login must be finished in the browser where it started. Reconnect your VPN client "
    "to try again.":
        "La connexion doit se terminer dans le navigateur où elle a commencé. Reconnectez "
        "votre client VPN pour réessayer.",
    "The identity provider could not be reached. Try again in a minute.":
        "Le fournisseur d'identité est injoignable. Réessayez dans une minute.",
    "Your VPN client stopped waiting for this login (it disconnected or timed out). Reconnect "
    "and log in again.":
        "Votre client VPN n'attend plus cette connexion (déconnecté ou délai dépassé). "
        "Reconnectez-vous et authentifiez-vous à nouveau.",
    "Your login could not be passed to the VPN server. Reconnect your VPN client and try "
    "again; contact your administrator if this persists.":
        "Votre connexion n'a pas pu être transmise au serveur VPN. Reconnectez votre client "
        "VPN ; contactez votre administrateur si le problème persiste.",
    "The login service is temporarily unavailable. Try again in a minute.":
        "Le service de connexion est temporairement indisponible. Réessayez dans une minute.",
    "Something went wrong on the login service. Reconnect your VPN client to try again.":
        "Une erreur est survenue sur le service de connexion. Reconnectez votre client VPN "
        "pour réessayer.",
    "Too many requests from your address. Wait a minute and try again.":
        "Trop de requêtes depuis votre adresse. Attendez une minute et réessayez.",
    "The identity provider did not accept this login. Reconnect your VPN client to try again.":
        "Le fournisseur d'identité n'a pas accepté cette connexion. Reconnectez votre client "
        "VPN pour réessayer.",
    "The login was cancelled or refused at the identity provider.":
        "La connexion a été annulée ou refusée par le fournisseur d'identité.",
    "The identity provider returned an error ({code}).":
        "Le fournisseur d'identité a renvoyé une erreur ({code}).",
    "The VPN connection was refused. If you did not start it, tell your administrator.":
        "La connexion VPN a été refusée. Si vous ne l'avez pas lancée, prévenez votre "
        "administrateur.",
    "Signed in as {user}. Your VPN connection to {server} is being established; you can close "
    "this window.":
        "Connecté en tant que {user}. Votre connexion VPN vers {server} est en cours "
        "d'établissement ; vous pouvez fermer cette fenêtre.",
    "Access denied: {user} is not in any of the groups allowed on VPN server {server} "
    "({groups})":
        "Accès refusé : {user} n'appartient à aucun des groupes autorisés sur le serveur VPN "
        "{server} ({groups})",
    "Access denied: {user} matches none of the rules of VPN server {server}: {rules}":
        "Accès refusé : {user} ne satisfait aucune des règles du serveur VPN {server} : {rules}",
    "Access denied: {user} is refused on VPN server {server} ({rule})":
        "Accès refusé : {user} est refusé sur le serveur VPN {server} ({rule})",
    "Your account has no '{claim}' at the identity provider, so it cannot be used for the "
    "VPN: contact your administrator":
        "Votre compte n'a pas de « {claim} » chez le fournisseur d'identité et ne peut donc pas "
        "servir pour le VPN : contactez votre administrateur",
    "This login belongs to a VPN connection whose {what} is not yours: use your own VPN "
    "profile (never a login link someone sent you)":
        "Cette connexion appartient à une connexion VPN dont le {what} n'est pas le vôtre : "
        "utilisez votre propre profil VPN (jamais un lien qu'on vous a envoyé)",
    "certificate": "certificat",
    "username": "nom d'utilisateur",
    "Your identity provider account has no name to match this VPN connection":
        "Votre compte chez le fournisseur d'identité n'a pas de nom correspondant à cette "
        "connexion VPN",
    "This login was opened from another network than the VPN connection: open the link on "
    "the device that connects":
        "Cette connexion a été ouverte depuis un autre réseau que la connexion VPN : ouvrez le "
        "lien sur l'appareil qui se connecte",
    "You are signed in as <strong>{user}</strong>. Approve only if you just started this "
    "connection yourself.":
        "Vous êtes connecté en tant que <strong>{user}</strong>. N'approuvez que si vous venez "
        "de lancer cette connexion vous-même.",
    "VPN server": "Serveur VPN",
    "Client address": "Adresse du client",
    "Platform": "Plateforme",
    "Client version": "Version du client",
    "Started": "Démarrée",
    "unknown": "inconnu",
    "Approve": "Approuver",
    "Deny": "Refuser",
    "There is nothing here.": "Il n'y a rien ici.",
    "This request could not be understood.": "Cette requête n'a pas pu être comprise.",
}

CATALOGS: dict[str, dict[str, str]] = {"en": {k: k for k in _DE}, "de": _DE, "fr": _FR}


def translate(lang: str, message: str | Text) -> Markup:
    """The message in ``lang`` as safe HTML: known templates keep their markup and get
    escaped parameters; unknown text is escaped whole."""
    source = message.template if isinstance(message, Text) else message
    params = dict(message.params) if isinstance(message, Text) else {}
    template = CATALOGS.get(lang, CATALOGS["en"]).get(source)
    if template is None:
        return escape(str(message))
    # "what" names a thing ("certificate") that is itself translated
    values = {k: translate(lang, v) if k == "what" else escape(v) for k, v in params.items()}
    # the template is ours (this module), the values are escaped
    return Markup(template).format(**values)  # noqa: S704
