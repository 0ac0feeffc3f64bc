#include "sqlstate.h"

#include <stdio.h>
#include <string.h>

void db_sqlstate_copy(const PGresult *res, char ret[DB_SQLSTATE_LEN])
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(ret, DB_SQLSTATE_LEN, "%s", s && *s ? s : "08000");
}

bool db_sqlstate_transient(const char *sqlstate)
{
    static const char *const codes[] = {"40001", "40P01", "55P03", "57014",
                                        "57P01", "57P02", "57P03", "25P02"};
    if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "53", 2) == 0 ||
        strncmp(sqlstate, "58", 2) == 0)
        return true;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(sqlstate, codes[i]) == 0)
            return true;
    return false;
}

bool db_sqlstate_data_error(const char *sqlstate)
{
    return strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0;
}
