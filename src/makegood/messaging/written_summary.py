"""One sentence saying what went wrong, for letters whose incident has no summary a
person wrote in the reader's language.

It follows "We let you down last night." in every letter, so each language has its
own sentence shapes, written to read on from there, and its own names for common
services. A service the table does not know is never shown (an English name in a
Korean letter reads worse than no name): the sentence then says "one of our
services". Each language's names are the words that fit its sentence (German
"beim Versand", French "la livraison"), not bare translations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from babel.lists import format_list

from makegood.core.locales import closest
from makegood.messaging.wording import babel_locale, sentence_start


@dataclass(frozen=True)
class Shapes:
    """A language's sentences: ``{services}`` is the joined names, ``{window}`` the
    time window (``window`` filled in) or nothing."""

    one: str
    many: str
    generic: str
    window: str  # {start} {end}
    names: Mapping[str, str]


ENGLISH = Shapes(
    one="Our {services} service did not work as it should{window}.",
    many="Our {services} services did not work as they should{window}.",
    generic="One of our services did not work as it should{window}.",
    window=" between {start} and {end}",
    names={
        "streaming": "streaming",
        "playback": "playback",
        "shipping": "shipping",
        "delivery": "delivery",
        "billing": "billing",
        "payments": "payment",
        "login": "sign-in",
        "app": "app",
        "website": "website",
        "search": "search",
        "downloads": "download",
        "music": "music",
        "video": "video",
        "support": "support",
        "checkout": "checkout",
        "orders": "ordering",
        "notifications": "notification",
    },
)

# Spanish as written in Spain; Latin America ("es-419", which CLDR makes the parent
# of es-MX, es-AR, ...) differs in a few names below.
SPANISH = Shapes(
    one="Tuvimos un problema con {services}{window}.",
    many="Tuvimos un problema con {services}{window}.",
    generic="Uno de nuestros servicios no funcionó como debía{window}.",
    window=" de {start} a {end}",
    names={
        "streaming": "el streaming",
        "playback": "la reproducción",
        "shipping": "los envíos",
        "delivery": "las entregas",
        "billing": "la facturación",
        "payments": "los pagos",
        "login": "el inicio de sesión",
        "app": "nuestra aplicación",
        "website": "nuestra web",
        "search": "la búsqueda",
        "downloads": "las descargas",
        "music": "la música",
        "video": "los vídeos",
        "support": "la atención al cliente",
        "checkout": "el proceso de compra",
        "orders": "los pedidos",
        "notifications": "las notificaciones",
    },
)

SHAPES: dict[str, Shapes] = {
    "en": ENGLISH,
    "de": Shapes(
        # The names carry their preposition, so one sentence fits one or several.
        one="{services} lief{window} nicht alles so, wie es sollte.",
        many="{services} lief{window} nicht alles so, wie es sollte.",
        generic="Einer unserer Dienste hat{window} nicht so funktioniert, wie er sollte.",
        window=" zwischen {start} und {end} Uhr",
        names={
            "streaming": "beim Streaming",
            "playback": "bei der Wiedergabe",
            "shipping": "beim Versand",
            "delivery": "bei der Zustellung",
            "billing": "bei der Abrechnung",
            "payments": "bei Zahlungen",
            "login": "bei der Anmeldung",
            "app": "in unserer App",
            "website": "auf unserer Website",
            "search": "bei der Suche",
            "downloads": "bei Downloads",
            "music": "bei der Musik",
            "video": "bei Videos",
            "support": "bei unserem Kundenservice",
            "checkout": "beim Bestellabschluss",
            "orders": "bei Bestellungen",
            "notifications": "bei Benachrichtigungen",
        },
    ),
    "fr": Shapes(
        one="Un problème a perturbé {services}{window}.",
        many="Un problème a perturbé {services}{window}.",
        generic="L’un de nos services n’a pas fonctionné correctement{window}.",
        window=" entre {start} et {end}",
        names={
            "streaming": "le streaming",
            "playback": "la lecture des vidéos",
            "shipping": "l’expédition des commandes",
            "delivery": "la livraison",
            "billing": "la facturation",
            "payments": "les paiements",
            "login": "la connexion",
            "app": "notre application",
            "website": "notre site",
            "search": "la recherche",
            "downloads": "les téléchargements",
            "music": "l’écoute de musique",
            "video": "les vidéos",
            "support": "notre service client",
            "checkout": "la validation des achats",
            "orders": "les commandes",
            "notifications": "les notifications",
        },
    ),
    "es": SPANISH,
    "es-419": replace(
        SPANISH,
        names={
            **SPANISH.names,
            "app": "nuestra app",
            "website": "nuestro sitio web",
            "video": "los videos",
            "support": "la atención a clientes",
            "checkout": "el proceso de pago",
        },
    ),
    "pt": Shapes(
        one="Tivemos um problema com {services}{window}.",
        many="Tivemos um problema com {services}{window}.",
        generic="Um dos nossos serviços não funcionou como deveria{window}.",
        window=" entre {start} e {end}",
        names={
            "streaming": "o streaming",
            "playback": "a reprodução de vídeos",
            "shipping": "o envio de pedidos",
            "delivery": "as entregas",
            "billing": "a cobrança",
            "payments": "os pagamentos",
            "login": "o login",
            "app": "o nosso app",
            "website": "o nosso site",
            "search": "a busca",
            "downloads": "os downloads",
            "music": "as músicas",
            "video": "os vídeos",
            "support": "o atendimento",
            "checkout": "a finalização de compras",
            "orders": "os pedidos",
            "notifications": "as notificações",
        },
    ),
    "it": Shapes(
        one="Abbiamo avuto un problema con {services}{window}.",
        many="Abbiamo avuto un problema con {services}{window}.",
        generic="Uno dei nostri servizi non ha funzionato come avrebbe dovuto{window}.",
        # "dalle ore": a bare "dalle" would need "dall’" before 1:00.
        window=" dalle ore {start} alle ore {end}",
        names={
            "streaming": "lo streaming",
            "playback": "la riproduzione",
            "shipping": "le spedizioni",
            "delivery": "le consegne",
            "billing": "la fatturazione",
            "payments": "i pagamenti",
            "login": "l’accesso",
            "app": "l’app",
            "website": "il sito",
            "search": "la ricerca",
            "downloads": "i download",
            "music": "la musica",
            "video": "i video",
            "support": "l’assistenza clienti",
            "checkout": "la procedura di acquisto",
            "orders": "gli ordini",
            "notifications": "le notifiche",
        },
    ),
    "nl": Shapes(
        one="Er ging{window} iets mis met {services}.",
        many="Er ging{window} iets mis met {services}.",
        generic="Een van onze diensten werkte{window} niet zoals het hoort.",
        window=" tussen {start} en {end}",
        names={
            "streaming": "het streamen",
            "playback": "het afspelen",
            "shipping": "het verzenden van bestellingen",
            "delivery": "de bezorging",
            "billing": "de facturering",
            "payments": "het betalen",
            "login": "het inloggen",
            "app": "onze app",
            "website": "onze website",
            "search": "het zoeken",
            "downloads": "het downloaden",
            "music": "de muziek",
            "video": "de video’s",
            "support": "onze klantenservice",
            "checkout": "het afrekenen",
            "orders": "het bestellen",
            "notifications": "de meldingen",
        },
    ),
    "ja": Shapes(
        one="{window}{services}に不具合が発生しておりました。",
        many="{window}{services}に不具合が発生しておりました。",
        generic="{window}一部のサービスに不具合が発生しておりました。",
        window="{start}から{end}までの間、",
        names={
            "streaming": "動画配信",
            "playback": "再生",
            "shipping": "商品の発送",
            "delivery": "配送",
            "billing": "ご請求の処理",
            "payments": "決済",
            "login": "ログイン",
            "app": "アプリ",
            "website": "ウェブサイト",
            "search": "検索機能",
            "downloads": "ダウンロード",
            "music": "音楽配信",
            "video": "動画",
            "support": "サポート窓口",
            "checkout": "購入手続き",
            "orders": "ご注文の受付",
            "notifications": "通知",
        },
    ),
    "ko": Shapes(
        one="{window}{services} 서비스가 정상적으로 작동하지 않았습니다.",
        many="{window}{services} 서비스가 정상적으로 작동하지 않았습니다.",
        generic="{window}일부 서비스가 정상적으로 작동하지 않았습니다.",
        window="{start}부터 {end}까지 ",
        names={
            "streaming": "스트리밍",
            "playback": "재생",
            "shipping": "상품 발송",
            "delivery": "배송",
            "billing": "요금 청구",
            "payments": "결제",
            "login": "로그인",
            "app": "앱",
            "website": "웹사이트",
            "search": "검색",
            "downloads": "다운로드",
            "music": "음악",
            "video": "동영상",
            "support": "고객 지원",
            "checkout": "주문 결제",
            "orders": "주문",
            "notifications": "알림",
        },
    ),
    "zh": Shapes(
        one="{window}我们的{services}服务未能正常运行。",
        many="{window}我们的{services}服务未能正常运行。",
        generic="{window}我们的一项服务未能正常运行。",
        window="{start}至{end}期间，",
        names={
            "streaming": "在线播放",
            "playback": "视频播放",
            "shipping": "发货",
            "delivery": "配送",
            "billing": "账单",
            "payments": "支付",
            "login": "登录",
            "app": "应用",
            "website": "网站",
            "search": "搜索",
            "downloads": "下载",
            "music": "音乐",
            "video": "视频",
            "support": "客服",
            "checkout": "结算",
            "orders": "订单",
            "notifications": "消息通知",
        },
    ),
    "ar": Shapes(
        one="حدث خلل في {services}{window}.",
        many="حدث خلل في {services}{window}.",
        generic="لم تعمل إحدى خدماتنا كما ينبغي{window}.",
        window=" بين الساعة {start} والساعة {end}",
        names={
            "streaming": "البث",
            "playback": "تشغيل الفيديو",
            "shipping": "شحن الطلبات",
            "delivery": "التوصيل",
            "billing": "الفوترة",
            "payments": "الدفع",
            "login": "تسجيل الدخول",
            "app": "التطبيق",
            "website": "الموقع الإلكتروني",
            "search": "البحث",
            "downloads": "التنزيل",
            "music": "الموسيقى",
            "video": "الفيديو",
            "support": "خدمة العملاء",
            "checkout": "إتمام الشراء",
            "orders": "الطلبات",
            "notifications": "الإشعارات",
        },
    ),
}


def shapes_for(tag: str) -> Shapes:
    """The sentences for a BCP 47 tag: its language's nearest set, else English."""
    key = closest(tag, SHAPES)
    return SHAPES[key] if key is not None else ENGLISH


def written_summary(
    services: Sequence[str], start_time: str | None, end_time: str | None, tag: str
) -> str:
    """One sentence in ``tag``'s language saying which services did not work, and
    between which clock times when both are given."""
    shapes = shapes_for(tag)
    wanted = list(dict.fromkeys(s.strip().lower() for s in services if s.strip()))
    window = ""
    if start_time and end_time:
        window = shapes.window.format(start=start_time, end=end_time)
    if not wanted or any(s not in shapes.names for s in wanted):
        return sentence_start(shapes.generic.format(window=window))
    names = [shapes.names[s] for s in wanted]
    joined = format_list(names, locale=babel_locale(tag))
    pattern = shapes.one if len(names) == 1 else shapes.many
    return sentence_start(pattern.format(services=joined, window=window))
