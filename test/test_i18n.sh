#!/usr/bin/env bash
# Users read the bot in their Telegram language: users with language_code
# ru-RU, es, de, pt-br (no catalog: the default) and none write and get
# "request created", /start, /status, a refusal, the solved, closed and
# taken notices, the rating question and its thanks in their language,
# while staff read English. Then DEFAULT_LANGUAGE=de with business hours
# and auto-close: the default changes for pt and for no language, "back on"
# is written in each language's words, and the auto-close notice goes out
# in the language stored for the user. A DEFAULT_LANGUAGE without a catalog,
# and a LOCALE_DIR without catalogs, are refused at start.
set -e
. "$TGDESK_SOURCE_ROOT/test/lib.sh"
. "$TGDESK_SOURCE_ROOT/test/desk_lib.sh"
need_pg

IVAN=6700000001 ANA=6700000002 UTE=6700000003 JOAO=6700000004 NOLA=6700000005
BOB=5700000001

db=$(new_db)
start_fake
start_tgdesk TELEGRAM_GLOBAL_RPS=10000 ADMIN_IDS=$BOB || {
    not_ok "tgdesk starts" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
rid() { q "SELECT max(id) FROM requests WHERE user_id = $1"; }
# has DESC LINE...: settles; every line is among the calls since the mark.
has() {
    local desc=$1 all l
    shift
    settle
    all=$(calls)
    for l in "$@"; do expect_contains "$desc" "$all" "$l"; done
}

# "Request created" in five languages.
mark
say message 1 $IVAN $IVAN 'Не печатает принтер' --name Ivan --lang ru-RU
say message 2 $ANA $ANA 'La impresora no imprime' --name Ana --lang es
say message 3 $UTE $UTE 'Der Drucker druckt nicht' --name Ute --lang de
say message 4 $JOAO $JOAO 'A impressora não imprime' --name Joao --lang pt-br
say message 5 $NOLA $NOLA 'The printer does not print' --name Nola --lang ''
RI=$(rid $IVAN) RA=$(rid $ANA) RU=$(rid $UTE) RJ=$(rid $JOAO) RN=$(rid $NOLA)
has "request created, each in the user's language" \
    "sendMessage $IVAN Запрос #$RI создан. Наша служба поддержки скоро ответит вам здесь; всё, что вы отправите до этого, будет добавлено к нему. /status показывает ваши запросы, /cancel закрывает этот." \
    "sendMessage $ANA Solicitud #$RA creada. Nuestro equipo de soporte le responderá aquí pronto; todo lo que envíe hasta entonces se añade a ella. /status muestra sus solicitudes, /cancel cierra esta." \
    "sendMessage $UTE Anfrage #$RU erstellt. Unser Support-Team antwortet Ihnen bald hier; alles, was Sie bis dahin senden, wird ihr hinzugefügt. /status zeigt Ihre Anfragen, /cancel schließt diese." \
    "sendMessage $JOAO Request #$RJ created. Our support team will answer you here soon; anything you send until then is added to it. /status shows your requests, /cancel closes this one." \
    "sendMessage $NOLA Request #$RN created. Our support team will answer you here soon; anything you send until then is added to it. /status shows your requests, /cancel closes this one." \
    "sendMessage $BOB New request #$RI from Ivan:⏎Не печатает принтер [take:$RI,close:$RI]"
expect_eq "the language is stored with the user" "ru-RU|es|de|pt-br|" \
    "$(q "SELECT string_agg(coalesce(language_code, ''), '|' ORDER BY user_id) FROM users WHERE user_id BETWEEN $IVAN AND $NOLA")"

# /start, /status and a refusal.
mark
say message 6 $IVAN $IVAN '/start' --name Ivan --lang ru
say message 7 $ANA $ANA '/status' --name Ana --lang es
say message 8 $UTE $UTE '/list' --name Ute --lang de
settle
all=$(calls)
expect_contains "/start in Russian" "$all" "sendMessage $IVAN Здравствуйте! Это служба поддержки.⏎⏎Опишите проблему"
expect_contains "/start in Russian: the commands" "$all" "⏎/status — ваши последние запросы⏎/cancel — закрыть открытый запрос⏎/forget — удалить всё, что вы нам писали⏎/help — это сообщение"
expect_contains "/status in Spanish, status and age too" "$all" "sendMessage $ANA Sus solicitudes recientes:⏎#$RA · abierta · abierta hace "
expect_contains "/status in Spanish: the preview" "$all" " s⏎    La impresora no imprime"
expect_contains "a staff command refused in German" "$all" \
    "sendMessage $UTE Leider ist /list nur für unser Support-Team. Wenn Sie Hilfe brauchen, beschreiben Sie Ihr Problem einfach hier in einer Nachricht."

# Staff act: the user reads their language (stored with them), staff English.
mark
say message 9 $BOB $BOB "/solve $RI Заменили картридж." --name Bob --lang ru
say message 10 $BOB $BOB "/close $RA" --name Bob --lang ru
say message 11 $BOB $BOB "/take $RU" --name Bob --lang ru
has "solved, closed, taken: each user in their language, staff in English" \
    "sendMessage $IVAN Запрос #$RI решён: Заменили картридж.⏎⏎Если вам нужно что-то ещё, просто напишите нам снова." \
    "sendMessage $IVAN Как вы оцениваете нашу помощь по запросу #$RI? 1 — плохо, 5 — отлично. [rate:$RI:1,rate:$RI:2,rate:$RI:3,rate:$RI:4,rate:$RI:5]" \
    "sendMessage $ANA Nuestro equipo de soporte ha cerrado la solicitud #$RA. Si necesita algo más, escríbanos de nuevo." \
    "sendMessage $ANA ¿Cómo valora nuestra ayuda con la solicitud #$RA? 1 es mala, 5 es excelente. [rate:$RA:1,rate:$RA:2,rate:$RA:3,rate:$RA:4,rate:$RA:5]" \
    "sendMessage $UTE Anfrage #$RU wird jetzt von unserem Support-Team bearbeitet." \
    "sendMessage $BOB Request #$RI solved by Bob." \
    "sendMessage $BOB Request #$RA closed by Bob." \
    "sendMessage $BOB Request #$RU taken by Bob."

# A rating: the toast and the invitation in Russian, staff told in English.
mark
say callback 12 $IVAN "rate:$RI:5" --name Ivan --lang ru --chat $IVAN --mid 90
has "rating: thanked in Russian" \
    "answerCallbackQuery cq12 toast Спасибо! Ваша оценка запроса #$RI: 5/5." \
    "sendMessage $IVAN Спасибо за оценку запроса #$RI: 5/5. Если хотите, напишите в следующем сообщении, что было хорошо и что мы могли бы сделать лучше." \
    "sendMessage $BOB Request #$RI was rated 5/5 by Ivan."

# DEFAULT_LANGUAGE=de, business hours that begin the day after tomorrow (in
# Berlin), and auto-close of Ivan's solved request.
read -r day de_when ru_when es_when <<<"$(/usr/bin/python3 -c '
import datetime, zoneinfo
d = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/Berlin")).date() + datetime.timedelta(days=2)
de = "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag".split()
ru = "понедельник вторник среда четверг пятница суббота воскресенье".split()
es = "lunes martes miércoles jueves viernes sábado domingo".split()
dm = "Januar Februar März April Mai Juni Juli August September Oktober November Dezember".split()
rm = "января февраля марта апреля мая июня июля августа сентября октября ноября декабря".split()
em = "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split()
w, m, n = d.weekday(), d.month - 1, d.day
print(d.strftime("%a"), "%s,_%d._%s_um_09:00" % (de[w], n, dm[m]), "%s,_%d_%s,_в_09:00" % (ru[w], n, rm[m]),
      "%s_%d_de_%s_a_las_09:00" % (es[w], n, em[m]))')"
de_when=${de_when//_/ } ru_when=${ru_when//_/ } es_when=${es_when//_/ }
stop_tgdesk TERM
start_tgdesk TELEGRAM_GLOBAL_RPS=10000 ADMIN_IDS=$BOB DEFAULT_LANGUAGE=de \
    BUSINESS_HOURS="$day 09:00-18:00 Europe/Berlin" AUTO_CLOSE_SOLVED_AFTER=5s || {
    not_ok "tgdesk starts with DEFAULT_LANGUAGE=de" "$(cat "$scratch/tgdesk.log")"; finish; exit 1; }
q "UPDATE requests SET resolved_at = now() - interval '1 minute' WHERE id = $RI" >/dev/null
mark
say message 13 $JOAO $JOAO '/cancel' --name Joao --lang pt-br
say message 14 $NOLA $NOLA '/cancel' --name Nola --lang ''
say message 15 6700000006 6700000006 'Ещё вопрос' --name Olga --lang ru
say message 16 6700000007 6700000007 '¿Hay alguien?' --name Eva --lang es-MX
say message 17 6700000008 6700000008 'Hallo?' --name Paulo --lang pt
RO=$(rid 6700000006) RE=$(rid 6700000007) RP=$(rid 6700000008)
wait_for 20 sql_is "$db" "SELECT status FROM requests WHERE id = $RI" closed ||
    not_ok "auto-close closed Ivan's request" "$(q "SELECT status, resolved_at FROM requests WHERE id = $RI")"
has "DEFAULT_LANGUAGE=de: pt and no language read German; back on in each language; auto-close in Russian" \
    "sendMessage $JOAO Anfrage #$RJ ist geschlossen. Schreiben Sie uns jederzeit wieder, um eine neue zu eröffnen." \
    "sendMessage $NOLA Anfrage #$RN ist geschlossen. Schreiben Sie uns jederzeit wieder, um eine neue zu eröffnen." \
    "sendMessage 6700000006 Запрос #$RO создан. Наша служба поддержки скоро ответит вам здесь; всё, что вы отправите до этого, будет добавлено к нему. /status показывает ваши запросы, /cancel закрывает этот.⏎⏎Сейчас наша команда не работает; мы снова на связи: $ru_when (Europe/Berlin)." \
    "sendMessage 6700000007 Solicitud #$RE creada. Nuestro equipo de soporte le responderá aquí pronto; todo lo que envíe hasta entonces se añade a ella. /status muestra sus solicitudes, /cancel cierra esta.⏎⏎Nuestro equipo no está disponible ahora y vuelve el $es_when (Europe/Berlin)." \
    "sendMessage 6700000008 Anfrage #$RP erstellt. Unser Support-Team antwortet Ihnen bald hier; alles, was Sie bis dahin senden, wird ihr hinzugefügt. /status zeigt Ihre Anfragen, /cancel schließt diese.⏎⏎Unser Team ist gerade nicht erreichbar und ab $de_when (Europe/Berlin) wieder für Sie da." \
    "sendMessage $IVAN Запрос #$RI закрыт, так как после его решения вы нам не писали. Напишите нам в любое время, чтобы открыть новый." \
    "sendMessage $BOB Request #$RJ was cancelled by Joao."
stop_tgdesk TERM

# Refused at start: a default language without a catalog, catalogs not there.
refused() { # DESC NEEDLE VAR=VALUE...
    local desc=$1 needle=$2 rc=0
    shift 2
    env DATABASE_URL="$db" PORT=0 TELEGRAM_API_URL="$fake_url" TELEGRAM_BOT_TOKEN="$TOKEN" \
        WEBHOOK_SECRET="$secret" "$@" timeout 20 "$TGDESK_BIN" serve >"$scratch/refused.out" 2>&1 || rc=$?
    expect_eq "$desc: exit status 2" 2 "$rc"
    expect_contains "$desc: says why" "$(cat "$scratch/refused.out")" "$needle"
}
refused "DEFAULT_LANGUAGE=fr" 'DEFAULT_LANGUAGE=fr: no catalog for language "fr" (have: de es ru en)' \
    DEFAULT_LANGUAGE=fr
mkdir -p "$scratch/nolocale"
refused "LOCALE_DIR without catalogs" \
    "message catalogs in $scratch/nolocale: catalog $scratch/nolocale/de/LC_MESSAGES/tgdesk.mo: No such file or directory" \
    LOCALE_DIR="$scratch/nolocale"

finish
