"""What the claim page says, per language. Dates, times and money are formatted by
Babel in the reader's locale; these are only the sentences around them."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from makegood.core.locales import closest

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your credit from {company}",
        "sorry": "We're sorry",
        "hello": "Hi {name},",
        "hello_anon": "Hello,",
        "credit_label": "Your credit",
        "statement": "Taken off your bill of {date}",
        "deadline": "Claim it by {deadline}",
        "once": "One click adds it to your account. The link works once.",
        "button": "Add the credit to my account",
        "done_title": "Done — thank you",
        "done": "{amount} will be taken off your bill of {date}.",
        "already_title": "Already claimed",
        "already": "This credit was claimed on {when}. {amount} will be taken off your bill of {date}.",
        "expired_title": "This offer has ended",
        "expired": "The credit could be claimed until {deadline}.",
        "voided_title": "This offer is no longer available",
        "voided": "This credit was withdrawn.",
        "call": "Questions? Call us at {phone}.",
        "unknown_title": "We can't find this link",
        "unknown": "Check that you opened the whole link from our email. If it still does not work, the link may have been replaced by a newer one.",
        "forbidden_title": "This page has gone stale",
        "forbidden": "Please open the link from our email again and press the button once more.",
        "limited_title": "Too many tries",
        "limited": "Please wait a minute, then try again.",
        "signoff": "The {company} team",
    },
    "de": {
        "title": "Ihre Gutschrift von {company}",
        "sorry": "Es tut uns leid",
        "hello": "Hallo {name},",
        "hello_anon": "Hallo,",
        "credit_label": "Ihre Gutschrift",
        "statement": "Wird von Ihrer Rechnung vom {date} abgezogen",
        "deadline": "Einlösbar bis {deadline}",
        "once": "Ein Klick schreibt sie Ihrem Konto gut. Der Link funktioniert einmal.",
        "button": "Gutschrift meinem Konto hinzufügen",
        "done_title": "Erledigt – vielen Dank",
        "done": "{amount} werden von Ihrer Rechnung vom {date} abgezogen.",
        "already_title": "Bereits eingelöst",
        "already": "Diese Gutschrift wurde am {when} eingelöst. {amount} werden von Ihrer Rechnung vom {date} abgezogen.",
        "expired_title": "Dieses Angebot ist abgelaufen",
        "expired": "Die Gutschrift war bis {deadline} einlösbar.",
        "voided_title": "Dieses Angebot ist nicht mehr verfügbar",
        "voided": "Diese Gutschrift wurde zurückgezogen.",
        "call": "Fragen? Rufen Sie uns an: {phone}.",
        "unknown_title": "Diesen Link finden wir nicht",
        "unknown": "Bitte prüfen Sie, ob Sie den vollständigen Link aus unserer E-Mail geöffnet haben. Vielleicht wurde er auch durch einen neueren ersetzt.",
        "forbidden_title": "Diese Seite ist veraltet",
        "forbidden": "Bitte öffnen Sie den Link aus unserer E-Mail erneut und klicken Sie noch einmal.",
        "limited_title": "Zu viele Versuche",
        "limited": "Bitte warten Sie eine Minute und versuchen Sie es dann erneut.",
        "signoff": "Ihr {company}-Team",
    },
    "fr": {
        "title": "Votre avoir de {company}",
        "sorry": "Toutes nos excuses",
        "hello": "Bonjour {name},",
        "hello_anon": "Bonjour,",
        "credit_label": "Votre avoir",
        "statement": "Déduit de votre facture du {date}",
        "deadline": "À réclamer avant le {deadline}",
        "once": "Un clic l’ajoute à votre compte. Le lien ne fonctionne qu’une fois.",
        "button": "Ajouter l’avoir à mon compte",
        "done_title": "C’est fait, merci",
        "done": "{amount} seront déduits de votre facture du {date}.",
        "already_title": "Déjà réclamé",
        "already": "Cet avoir a été réclamé le {when}. {amount} seront déduits de votre facture du {date}.",
        "expired_title": "Cette offre a pris fin",
        "expired": "L’avoir pouvait être réclamé jusqu’au {deadline}.",
        "voided_title": "Cette offre n’est plus disponible",
        "voided": "Cet avoir a été retiré.",
        "call": "Des questions ? Appelez-nous au {phone}.",
        "unknown_title": "Ce lien est introuvable",
        "unknown": "Vérifiez que vous avez ouvert le lien complet de notre e-mail. Il a peut-être aussi été remplacé par un lien plus récent.",
        "forbidden_title": "Cette page a expiré",
        "forbidden": "Ouvrez à nouveau le lien de notre e-mail et cliquez encore une fois.",
        "limited_title": "Trop de tentatives",
        "limited": "Patientez une minute, puis réessayez.",
        "signoff": "L’équipe {company}",
    },
    "es": {
        "title": "Tu crédito de {company}",
        "sorry": "Lo sentimos",
        "hello": "Hola, {name}:",
        "hello_anon": "Hola:",
        "credit_label": "Tu crédito",
        "statement": "Se descontará de tu factura del {date}",
        "deadline": "Reclámalo antes del {deadline}",
        "once": "Con un clic se añade a tu cuenta. El enlace funciona una sola vez.",
        "button": "Añadir el crédito a mi cuenta",
        "done_title": "Listo, gracias",
        "done": "Se descontarán {amount} de tu factura del {date}.",
        "already_title": "Ya reclamado",
        "already": "Este crédito se reclamó el {when}. Se descontarán {amount} de tu factura del {date}.",
        "expired_title": "Esta oferta ha terminado",
        "expired": "El crédito se podía reclamar hasta el {deadline}.",
        "voided_title": "Esta oferta ya no está disponible",
        "voided": "Este crédito se ha retirado.",
        "call": "¿Preguntas? Llámanos al {phone}.",
        "unknown_title": "No encontramos este enlace",
        "unknown": "Comprueba que abriste el enlace completo de nuestro correo. Puede que también se haya sustituido por uno más reciente.",
        "forbidden_title": "Esta página ha caducado",
        "forbidden": "Vuelve a abrir el enlace de nuestro correo y pulsa el botón otra vez.",
        "limited_title": "Demasiados intentos",
        "limited": "Espera un minuto y vuelve a intentarlo.",
        "signoff": "El equipo de {company}",
    },
    "pt": {
        "title": "Seu crédito da {company}",
        "sorry": "Pedimos desculpas",
        "hello": "Olá, {name},",
        "hello_anon": "Olá,",
        "credit_label": "Seu crédito",
        "statement": "Descontado da sua fatura de {date}",
        "deadline": "Resgate até {deadline}",
        "once": "Um clique adiciona o crédito à sua conta. O link funciona uma vez.",
        "button": "Adicionar o crédito à minha conta",
        "done_title": "Pronto, obrigado",
        "done": "{amount} serão descontados da sua fatura de {date}.",
        "already_title": "Já resgatado",
        "already": "Este crédito foi resgatado em {when}. {amount} serão descontados da sua fatura de {date}.",
        "expired_title": "Esta oferta terminou",
        "expired": "O crédito podia ser resgatado até {deadline}.",
        "voided_title": "Esta oferta não está mais disponível",
        "voided": "Este crédito foi retirado.",
        "call": "Dúvidas? Ligue para {phone}.",
        "unknown_title": "Não encontramos este link",
        "unknown": "Verifique se você abriu o link completo do nosso e-mail. Ele também pode ter sido substituído por um mais recente.",
        "forbidden_title": "Esta página expirou",
        "forbidden": "Abra novamente o link do nosso e-mail e clique no botão mais uma vez.",
        "limited_title": "Tentativas demais",
        "limited": "Aguarde um minuto e tente de novo.",
        "signoff": "Equipe {company}",
    },
    "ja": {
        "title": "{company}からのクレジット",
        "sorry": "ご迷惑をおかけしました",
        "hello": "{name}様",
        "hello_anon": "お客様",
        "credit_label": "クレジット",
        "statement": "{date}のご請求から差し引きます",
        "deadline": "受け取り期限：{deadline}",
        "once": "ボタンを1回押すとアカウントに追加されます。このリンクは1回のみ有効です。",
        "button": "クレジットを受け取る",
        "done_title": "お手続きが完了しました",
        "done": "{amount}を{date}のご請求から差し引きます。",
        "already_title": "受け取り済みです",
        "already": "このクレジットは{when}に受け取り済みです。{amount}を{date}のご請求から差し引きます。",
        "expired_title": "受け取り期限が過ぎました",
        "expired": "このクレジットの受け取り期限は{deadline}でした。",
        "voided_title": "このクレジットは受け取れません",
        "voided": "このクレジットは取り消されました。",
        "call": "ご不明な点は{phone}までお電話ください。",
        "unknown_title": "このリンクは見つかりません",
        "unknown": "メールのリンクを最後までそのまま開いたかご確認ください。新しいリンクに置き換えられている場合もあります。",
        "forbidden_title": "このページの有効期限が切れました",
        "forbidden": "メールのリンクをもう一度開き、ボタンを押してください。",
        "limited_title": "試行回数が多すぎます",
        "limited": "1分ほど待ってから、もう一度お試しください。",
        "signoff": "{company}",
    },
}


def words_for(tag: str) -> dict[str, str]:
    """The sentences for a BCP 47 tag: its language, else English."""
    language = closest(tag, WORDS) or "en"
    return WORDS[language]


def negotiate(accept_language: str | None) -> str:
    """The best tag from an Accept-Language header, for pages that know no customer."""
    best: tuple[Decimal, str] = (Decimal(0), "en-US")
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = Decimal(1)
        if params.strip().startswith("q="):
            try:
                quality = Decimal(params.strip()[2:])
            except InvalidOperation:
                continue
            if not quality.is_finite():
                continue
        if tag and tag != "*" and closest(tag, WORDS) and quality > best[0]:
            best = (quality, tag)
    return best[1]
